-- The case record: every message a pupil's family was sent is kept on the pupil's record
-- (who sent it, when, to whom, and the content: ciphertext under the message's own key, so a
-- recall shreds it here too).
CREATE TABLE dispatch.case_entry (
  pupil_id uuid NOT NULL,
  message_id uuid NOT NULL REFERENCES dispatch.message (message_id),
  school_id uuid NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pupil_id, message_id)
);
CREATE INDEX case_entry_pupil ON dispatch.case_entry (school_id, pupil_id, recorded_at DESC);
ALTER TABLE dispatch.case_entry ENABLE ROW LEVEL SECURITY;
ALTER TABLE dispatch.case_entry FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON dispatch.case_entry USING (dispatch.tenant_visible(school_id));
