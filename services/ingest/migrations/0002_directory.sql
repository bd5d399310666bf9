-- MIS uploads and the contact directory. Every personal field is ciphertext under
-- the school's personal key; lookups use blind indexes; diffs use keyed fingerprints.

-- The platform's upload key pairs (X25519). Private keys only wrapped by the KEK.
CREATE TABLE ingest.upload_key (
  key_id uuid PRIMARY KEY,
  public_key bytea NOT NULL,
  private_wrapped bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

CREATE TABLE ingest.upload (
  upload_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  credential_id uuid NOT NULL,
  nonce text NOT NULL,
  signed_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  size_bytes integer NOT NULL,
  status text NOT NULL CHECK (status IN ('queued', 'imported', 'rejected')),
  payload bytea,                 -- the sealed upload re-encrypted under the school key; erased once settled
  content_sha256 bytea,          -- of the decrypted roster, to spot identical re-uploads
  counts jsonb NOT NULL DEFAULT '{}',
  report jsonb NOT NULL DEFAULT '[]',
  completed_at timestamptz,
  UNIQUE (school_id, nonce)
);
CREATE INDEX upload_queued ON ingest.upload (received_at) WHERE status = 'queued';

CREATE TABLE ingest.pupil (
  pupil_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  ref_index bytea NOT NULL,
  body bytea NOT NULL,
  fingerprint bytea NOT NULL,
  year_group text NOT NULL,      -- groups are not personal on their own: kept plain for audiences
  reg_group text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (school_id, ref_index)
);

CREATE TABLE ingest.contact (
  contact_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  pupil_id uuid NOT NULL REFERENCES ingest.pupil (pupil_id) ON DELETE CASCADE,
  ref_index bytea NOT NULL,
  body bytea NOT NULL,           -- names, relationship, responsibility, priority: no email/mobile
  fingerprint bytea NOT NULL,
  priority smallint NOT NULL,
  email_enc bytea, email_index bytea,     -- the confirmed values in use
  mobile_enc bytea, mobile_index bytea,
  confirmed_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (school_id, ref_index)
);
CREATE INDEX contact_email ON ingest.contact (school_id, email_index);
CREATE INDEX contact_mobile ON ingest.contact (school_id, mobile_index);
CREATE INDEX contact_pupil ON ingest.contact (pupil_id);

CREATE TABLE ingest.staff (
  staff_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  ref_index bytea NOT NULL,
  body bytea NOT NULL,
  fingerprint bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (school_id, ref_index)
);

-- A changed email or mobile waits here until the parent accepts it.
CREATE TABLE ingest.contact_change (
  change_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  contact_id uuid NOT NULL REFERENCES ingest.contact (contact_id) ON DELETE CASCADE,
  field text NOT NULL CHECK (field IN ('email', 'mobile')),
  value_enc bytea NOT NULL,
  value_index bytea NOT NULL,
  secret_hash bytea NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected', 'superseded')),
  upload_id uuid,
  requested_at timestamptz NOT NULL DEFAULT now(),
  decided_at timestamptz
);
CREATE UNIQUE INDEX contact_change_pending ON ingest.contact_change (contact_id, field) WHERE state = 'pending';

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['upload', 'pupil', 'contact', 'staff', 'contact_change'] LOOP
    EXECUTE format('ALTER TABLE ingest.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE ingest.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON ingest.%I USING (ingest.tenant_visible(school_id))', t);
  END LOOP;
END $$;
