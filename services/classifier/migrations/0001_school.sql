-- Per-school classifier state; the roster used to spot other families' children joins it later.
CREATE TABLE classifier.school (
  school_id uuid PRIMARY KEY,
  provisioned_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE classifier.school ENABLE ROW LEVEL SECURITY;
ALTER TABLE classifier.school FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON classifier.school USING (classifier.tenant_visible(school_id));
