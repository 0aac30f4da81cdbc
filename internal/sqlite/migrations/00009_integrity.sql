-- +goose Up
-- Audit integrity (issue 16): entry format 2 records the view each field
-- was returned in; signed checkpoints of the log; MACs over credential
-- rows (NULL until the first start with the keys computes them).
ALTER TABLE audit ADD COLUMN views TEXT NOT NULL DEFAULT '';
CREATE TABLE audit_checkpoints (
    counter     INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    hash        BLOB,
    time        INTEGER NOT NULL,
    key_version INTEGER NOT NULL,
    signature   BLOB NOT NULL
);
ALTER TABLE api_keys ADD COLUMN mac BLOB;
ALTER TABLE operators ADD COLUMN mac BLOB;
ALTER TABLE schema_doc ADD COLUMN mac BLOB;

-- +goose Down
ALTER TABLE schema_doc DROP COLUMN mac;
ALTER TABLE operators DROP COLUMN mac;
ALTER TABLE api_keys DROP COLUMN mac;
DROP TABLE audit_checkpoints;
ALTER TABLE audit DROP COLUMN views;
