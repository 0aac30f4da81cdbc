-- +goose Up
-- The derived-key root is versioned (issue 19): each record's blind-index
-- entries were computed under one derived version, kept here; a re-index
-- after a rotation of the derived-key root moves records to the new one.
ALTER TABLE records ADD COLUMN idx_version INTEGER NOT NULL DEFAULT 1;
CREATE INDEX records_idx_version ON records (idx_version);

-- +goose Down
DROP INDEX records_idx_version;
ALTER TABLE records DROP COLUMN idx_version;
