-- +goose Up
-- The derived-key root is versioned (issue 19): each erasure-ledger entry
-- keeps the derived version its keyed hash was made under (an erased id
-- cannot be re-hashed under a new one). Entries made before are version 1.
ALTER TABLE erasure_ledger ADD COLUMN key_version INTEGER NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE erasure_ledger DROP COLUMN key_version;
