-- Platform tables present in every service's schema: outbox, processed events,
-- the credential projection, and the tenant-visibility predicate for RLS.
GRANT USAGE ON SCHEMA __SCHEMA__ TO __APP_ROLE__;
ALTER DEFAULT PRIVILEGES IN SCHEMA __SCHEMA__ GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO __APP_ROLE__;
ALTER DEFAULT PRIVILEGES IN SCHEMA __SCHEMA__ GRANT USAGE, SELECT ON SEQUENCES TO __APP_ROLE__;

-- A row is visible only inside a transaction that named its school, or in the
-- explicit operator scope. No context: nothing.
CREATE FUNCTION __SCHEMA__.tenant_visible(row_school uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT row_school::text = current_setting('pupilpost.school_id', true)
      OR current_setting('pupilpost.scope', true) = 'operator'
$$;

CREATE TABLE __SCHEMA__.outbox (
  id bigserial PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  topic text NOT NULL,
  key text NOT NULL,
  payload bytea NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX outbox_pending ON __SCHEMA__.outbox (id) WHERE published_at IS NULL;

CREATE FUNCTION __SCHEMA__.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('__SCHEMA___outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON __SCHEMA__.outbox
  FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.outbox_notify();

CREATE TABLE __SCHEMA__.processed_event (
  event_id uuid PRIMARY KEY,
  topic text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE __SCHEMA__.dead_letter (
  id bigserial PRIMARY KEY,
  topic text NOT NULL,
  partition int NOT NULL,
  "offset" bigint NOT NULL,
  reason text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Projection of credentials issued by ingest (auth.credentials events): only
-- hashes of high-entropy secrets, never the secrets.
CREATE TABLE __SCHEMA__.credential (
  credential_id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('school', 'operator')),
  school_id uuid,
  tier text,
  permissions text[] NOT NULL DEFAULT '{}',
  secret_hash bytea NOT NULL,
  label text NOT NULL DEFAULT '',
  issued_at timestamptz NOT NULL,
  revoked_at timestamptz
);

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA __SCHEMA__ TO __APP_ROLE__;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA __SCHEMA__ TO __APP_ROLE__;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA __SCHEMA__ TO __APP_ROLE__;
