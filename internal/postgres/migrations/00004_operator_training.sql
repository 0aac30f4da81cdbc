-- +goose Up
ALTER TABLE operators ADD COLUMN trained_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE operators DROP COLUMN trained_at;
