-- +goose Up
-- Data lifecycle (issue 14). A record's token names its record and field,
-- so the change that replaces, deletes or sweeps the value deletes the
-- token in the same transaction. Tokens made before this migration keep
-- record '' (their subject's erasure still deletes them).
ALTER TABLE tokens ADD COLUMN record TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN field TEXT NOT NULL DEFAULT '';
CREATE INDEX tokens_record ON tokens (record, field) WHERE record <> '';
CREATE INDEX tokens_expires ON tokens (expires_at) WHERE expires_at > 0;

-- Purges of fields and collections a schema change dropped: while a row
-- is here its values are invisible (the name cannot be declared again)
-- and a background job deletes them page by page. field '' is the whole
-- collection.
CREATE TABLE purges (
    id         TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    field      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE purges;
DROP INDEX tokens_expires;
DROP INDEX tokens_record;
ALTER TABLE tokens DROP COLUMN field;
ALTER TABLE tokens DROP COLUMN record;
