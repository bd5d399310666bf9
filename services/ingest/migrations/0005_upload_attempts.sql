-- An upload the importer keeps failing on (a bug, not bad data) is given up after a few tries.
ALTER TABLE ingest.upload ADD COLUMN attempts integer NOT NULL DEFAULT 0;
