-- The lifecycle of each school: active -> disabled (cancelled) -> purged.
CREATE TABLE retention.school (
  school_id uuid PRIMARY KEY,
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled', 'purged')),
  created_at timestamptz NOT NULL,
  cancelled_at timestamptz,
  purge_due_at timestamptz,
  purged_at timestamptz
);
ALTER TABLE retention.school ENABLE ROW LEVEL SECURITY;
ALTER TABLE retention.school FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON retention.school USING (retention.tenant_visible(school_id));
