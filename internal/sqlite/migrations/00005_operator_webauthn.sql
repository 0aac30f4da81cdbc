-- +goose Up
ALTER TABLE operators ADD COLUMN webauthn BLOB;

-- +goose Down
ALTER TABLE operators DROP COLUMN webauthn;
