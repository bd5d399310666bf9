-- The append-only, hash-chained access log. One chain per school; operator
-- actions that concern no school go on the platform chain (the nil UUID).
CREATE TABLE audit.chain_head (
  chain uuid PRIMARY KEY,
  seq bigint NOT NULL,
  hash bytea NOT NULL
);
ALTER TABLE audit.chain_head ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.chain_head FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit.chain_head USING (audit.tenant_visible(chain));

CREATE TABLE audit.record (
  record_id uuid PRIMARY KEY,            -- the audit.access event id
  chain uuid NOT NULL,
  seq bigint NOT NULL,
  school_id uuid,
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  actor_id uuid,
  actor_kind text NOT NULL,
  tier text,
  service text NOT NULL,
  resource text NOT NULL,
  action text NOT NULL,
  purpose text NOT NULL,
  outcome text NOT NULL,
  trace_id text,
  prev_hash bytea NOT NULL,
  hash bytea NOT NULL,
  UNIQUE (chain, seq)
);
ALTER TABLE audit.record ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.record FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit.record USING (audit.tenant_visible(chain));

CREATE FUNCTION audit.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER record_append_only BEFORE UPDATE OR DELETE ON audit.record
  FOR EACH ROW EXECUTE FUNCTION audit.append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit.record FROM __APP_ROLE__;
