-- The keyring: per-school data keys and per-message keys, stored only wrapped.
-- It stands in for a KMS: destroying a key (wrapped := NULL) shreds every copy
-- of the data it protected, in every service, in Kafka and in backups.
CREATE FUNCTION keyring.tenant_visible(row_school uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT row_school::text = current_setting('pupilpost.school_id', true)
      OR current_setting('pupilpost.scope', true) = 'operator'
$$;

CREATE TABLE keyring.data_key (
  key_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  purpose text NOT NULL,           -- 'personal' | 'transactional' | 'message'
  subject_id uuid,                 -- the message id for purpose 'message'
  parent_key_id uuid REFERENCES keyring.data_key (key_id),  -- NULL: wrapped by the KEK
  wrapped bytea,                   -- NULL once destroyed
  created_at timestamptz NOT NULL DEFAULT now(),
  destroyed_at timestamptz,
  CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
);
CREATE UNIQUE INDEX data_key_school_family ON keyring.data_key (school_id, purpose)
  WHERE purpose IN ('personal', 'transactional');
CREATE UNIQUE INDEX data_key_subject ON keyring.data_key (school_id, purpose, subject_id)
  WHERE subject_id IS NOT NULL;

ALTER TABLE keyring.data_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE keyring.data_key FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON keyring.data_key USING (keyring.tenant_visible(school_id));

-- Keys are destroyed, never deleted: the row proves the key existed and when it went.
CREATE FUNCTION keyring.no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'keyring rows are destroyed, not deleted'; END $$;
CREATE TRIGGER data_key_no_delete BEFORE DELETE ON keyring.data_key
  FOR EACH ROW EXECUTE FUNCTION keyring.no_delete();
