-- +goose Up
-- The derived-key root is versioned (issue 19): an operator's TOTP secret
-- is sealed under a key derived from one derived version, kept here; the
-- re-index job after a derived rotation re-seals it under the new one.
-- Secrets sealed before are version 1.
ALTER TABLE operators ADD COLUMN totp_version INTEGER NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE operators DROP COLUMN totp_version;
