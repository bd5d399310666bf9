-- Ingest never looks a contact up by its email or mobile blind index (dispatch does, on its own
-- projection: dispatch.contact_email_key / contact_mobile_key). Each index cost an entry per
-- contact written, on every import.
DROP INDEX IF EXISTS ingest.contact_email;
DROP INDEX IF EXISTS ingest.contact_mobile;
