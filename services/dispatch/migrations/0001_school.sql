-- Dispatch's projection of a school: its name (for neutral notices) and sending policy.
CREATE TABLE dispatch.school (
  school_id uuid PRIMARY KEY,
  name text NOT NULL,
  require_approval boolean NOT NULL DEFAULT false,
  provisioned_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE dispatch.school ENABLE ROW LEVEL SECURITY;
ALTER TABLE dispatch.school FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON dispatch.school USING (dispatch.tenant_visible(school_id));
