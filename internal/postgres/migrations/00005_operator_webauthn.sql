-- +goose Up
ALTER TABLE operators ADD COLUMN webauthn BYTEA;

-- +goose Down
ALTER TABLE operators DROP COLUMN webauthn;
