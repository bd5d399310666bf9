-- Schools registered on the platform and each service's provisioning of them.
CREATE TABLE ingest.school (
  school_id uuid PRIMARY KEY,
  name text NOT NULL,
  urn text NOT NULL UNIQUE,
  created_by uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE ingest.school ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest.school FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON ingest.school USING (ingest.tenant_visible(school_id));

CREATE TABLE ingest.school_provisioning (
  school_id uuid NOT NULL REFERENCES ingest.school (school_id),
  service text NOT NULL,
  provisioned_at timestamptz NOT NULL,
  PRIMARY KEY (school_id, service)
);
ALTER TABLE ingest.school_provisioning ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest.school_provisioning FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON ingest.school_provisioning USING (ingest.tenant_visible(school_id));
