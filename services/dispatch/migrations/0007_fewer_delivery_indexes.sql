-- Every delivery row is inserted and then updated twice (claimed, recorded), and its state and
-- sent_at change, so each index costs an entry per version. Two serve no query any more:
-- the inbox reads delivery_inbox_sent (0004) and the case record reads case_entry (0005).
DROP INDEX IF EXISTS dispatch.delivery_inbox;
DROP INDEX IF EXISTS dispatch.delivery_pupil;
