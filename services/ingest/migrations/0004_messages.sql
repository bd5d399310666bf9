-- Messages composed by schools, their classification and four-eyes approval, and a
-- projection of their deliveries (from deliveries.status) for the school's status views.
CREATE TABLE ingest.school_setting (
  school_id uuid PRIMARY KEY,
  require_approval boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ingest.message (
  message_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  author_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('information', 'emergency', 'marketing')),
  urgent boolean NOT NULL,
  personalised boolean NOT NULL,
  audience jsonb NOT NULL,
  schedule_at timestamptz,
  marked_level text,
  requires_approval boolean NOT NULL,
  state text NOT NULL CHECK (state IN ('classifying', 'awaiting_approval', 'approved', 'rejected',
                                       'released', 'recalled')),
  level text, categories text[], pii text[], personal boolean, other_pupil_named boolean, evidence jsonb,
  classified_at timestamptz,
  approver_id uuid, decided_at timestamptz,
  recalled_by uuid, recalled_at timestamptz,
  submitted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_school_time ON ingest.message (school_id, submitted_at DESC);

CREATE TABLE ingest.message_delivery (
  delivery_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  message_id uuid NOT NULL,
  channel text NOT NULL,
  state text NOT NULL,
  provider_message_id text,
  error_code text,
  updated_at timestamptz NOT NULL
);
CREATE INDEX message_delivery_message ON ingest.message_delivery (message_id, delivery_id);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['school_setting', 'message', 'message_delivery'] LOOP
    EXECUTE format('ALTER TABLE ingest.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE ingest.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON ingest.%I USING (ingest.tenant_visible(school_id))', t);
  END LOOP;
END $$;
