-- A personalised message whose rendering for one family names another family's child is
-- never sent: the classifier's verdict moves it to 'blocked', which nothing moves on from
-- (it can still be recalled, which shreds its key).
ALTER TABLE ingest.message DROP CONSTRAINT message_state_check;
ALTER TABLE ingest.message ADD CONSTRAINT message_state_check
  CHECK (state IN ('classifying', 'awaiting_approval', 'approved', 'rejected', 'released', 'recalled', 'blocked'));
