-- The classifier's own roster projection (from directory.changes), used to check each rendering of a
-- personalised message for other families' children. Names stay ciphertext (the directory body under
-- the school's personal key); only the groups an audience is chosen by are in the clear.
CREATE TABLE classifier.pupil (
  pupil_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  year_group text NOT NULL,
  reg_group text,
  body bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pupil_school ON classifier.pupil (school_id);

-- Per school: a fresh random stamp whenever its pupils change (a cached decrypted roster is reused
-- only while its stamp is current; a rolled-back change leaves no stamp behind), and how far the
-- latest upload has been applied (the roster is settled once its last part is in).
CREATE TABLE classifier.roster_state (
  school_id uuid PRIMARY KEY,
  stamp uuid NOT NULL,
  upload_id uuid NOT NULL,
  part integer NOT NULL,
  parts integer NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Personalised messages that arrived before their pupils did (or mid-upload): the submitted event
-- as it came (content is ciphertext under the message's own key), classified when the roster settles.
CREATE TABLE classifier.parked_message (
  message_id uuid PRIMARY KEY,
  school_id uuid NOT NULL,
  event jsonb NOT NULL,
  parked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_message_school ON classifier.parked_message (school_id, parked_at);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['pupil', 'roster_state', 'parked_message'] LOOP
    EXECUTE format('ALTER TABLE classifier.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE classifier.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON classifier.%I USING (classifier.tenant_visible(school_id))', t);
  END LOOP;
END $$;
