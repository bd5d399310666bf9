-- Dispatch's own projection of the directory (from directory.changes; bodies stay ciphertext),
-- the messages it will send, and one delivery per (message, recipient, channel).
CREATE TABLE dispatch.pupil (
  pupil_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  year_group text NOT NULL,
  reg_group text,
  body bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pupil_groups ON dispatch.pupil (school_id, year_group, reg_group);

CREATE TABLE dispatch.contact (
  contact_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  pupil_id uuid NOT NULL,
  priority smallint NOT NULL,
  parental_responsibility boolean NOT NULL,
  person_key bytea,            -- blind index of the confirmed email (else mobile): one parent, one delivery
  has_email boolean NOT NULL,
  has_mobile boolean NOT NULL,
  body bytea NOT NULL,         -- ciphertext: names and the confirmed email/mobile
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_pupil ON dispatch.contact (pupil_id);

CREATE TABLE dispatch.staff (
  staff_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  body bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dispatch.preference (
  contact_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  channels text[] NOT NULL DEFAULT '{}',
  marketing_consent boolean NOT NULL DEFAULT false,
  consent_recorded_at timestamptz,
  has_app boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Filled from messages.submitted and messages.classified in whichever order they arrive.
CREATE TABLE dispatch.message (
  message_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  kind text,
  urgent boolean,
  audience jsonb,
  requires_approval boolean,
  content bytea,               -- ciphertext under the message's own key
  level text,
  approval text CHECK (approval IN ('approved', 'rejected')),
  state text NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'held', 'planned', 'rejected', 'recalled')),
  planned_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dispatch.delivery (
  delivery_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  message_id uuid NOT NULL REFERENCES dispatch.message (message_id),
  contact_id uuid NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms', 'app')),
  content text NOT NULL CHECK (content IN ('full', 'notice')),
  state text NOT NULL,
  urgent boolean NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  provider_message_id text,
  error_code text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (message_id, contact_id, channel)
);
CREATE INDEX delivery_due ON dispatch.delivery (urgent DESC, next_attempt_at) WHERE state = 'queued';
CREATE INDEX delivery_message ON dispatch.delivery (message_id);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['pupil', 'contact', 'staff', 'preference', 'message', 'delivery'] LOOP
    EXECUTE format('ALTER TABLE dispatch.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE dispatch.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON dispatch.%I USING (dispatch.tenant_visible(school_id))', t);
  END LOOP;
END $$;
