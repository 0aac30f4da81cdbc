-- +goose Up
-- Token vault: per-namespace data keys (wrapped under the KEK) and tokens
-- with their values sealed under those keys.
CREATE TABLE token_keys (
    namespace   TEXT PRIMARY KEY,
    dek         BYTEA NOT NULL,
    kek_version BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE tokens (
    token       TEXT PRIMARY KEY,
    namespace   TEXT NOT NULL,
    fingerprint BYTEA NOT NULL,
    value       BYTEA NOT NULL,
    subject     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL
);
CREATE INDEX tokens_subject ON tokens (subject) WHERE subject <> '';

-- +goose Down
DROP TABLE tokens;
DROP TABLE token_keys;
