-- +goose Up
-- Token vault: per-namespace data keys (wrapped under the KEK) and tokens
-- with their values sealed under those keys.
CREATE TABLE token_keys (
    namespace   TEXT PRIMARY KEY,
    dek         BLOB NOT NULL,
    kek_version INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Rows append in rowid order; the token is a unique index of small
-- entries (a card token lands on a random page of it, not of the table).
CREATE TABLE tokens (
    seq         INTEGER PRIMARY KEY,
    token       TEXT NOT NULL UNIQUE,
    namespace   TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    value       BLOB NOT NULL,
    subject     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL
);
CREATE INDEX tokens_subject ON tokens (subject) WHERE subject <> '';

-- +goose Down
DROP TABLE tokens;
DROP TABLE token_keys;
