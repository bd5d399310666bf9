-- The parent side of the app channel (issue 4, "App"): sign-in codes, parent tokens, the inbox.
--
-- A parent is known only by person_key (the blind index dispatch.contact already carries);
-- no name, address or number is stored here. Codes and token secrets are stored as SHA-256.

-- One sign-in attempt: a 6-digit code sent to the address the parent typed, valid 10 minutes,
-- dead after 5 wrong tries or once used.
CREATE TABLE dispatch.parent_login (
  login_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  person_key bytea NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  code_hash bytea NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX parent_login_person ON dispatch.parent_login (school_id, person_key, created_at DESC);

-- A signed-in device: bearer token ppp.<token_id>.<secret>.
CREATE TABLE dispatch.parent_token (
  token_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  person_key bytea NOT NULL,
  secret_hash bytea NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['parent_login', 'parent_token'] LOOP
    EXECUTE format('ALTER TABLE dispatch.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE dispatch.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON dispatch.%I USING (dispatch.tenant_visible(school_id))', t);
  END LOOP;
END $$;

-- A verify call names only a login id, a bearer token only a token id: this says which school's
-- transaction to open to check it. Ids and a school only (like the credential projection), so this
-- platform table has no tenant policy; the checks themselves run under the school's RLS.
CREATE TABLE dispatch.parent_locator (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('login', 'token')),
  school_id uuid NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX parent_locator_expiry ON dispatch.parent_locator (expires_at);

-- The inbox lists a parent's app deliveries newest first by when they reached the inbox.
CREATE INDEX delivery_inbox_sent ON dispatch.delivery
  (school_id, person_key, (coalesce(sent_at, created_at)) DESC, delivery_id DESC)
  WHERE channel = 'app' AND state IN ('sent', 'delivered', 'read');
