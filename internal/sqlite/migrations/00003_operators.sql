-- +goose Up
CREATE TABLE operators (
    username       TEXT PRIMARY KEY,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    totp_secret    BLOB NOT NULL,   -- sealed
    totp_last_step INTEGER NOT NULL,
    mfa_enrolled   INTEGER NOT NULL,
    locked         INTEGER NOT NULL,
    locked_until   INTEGER NOT NULL,
    failed_logins  INTEGER NOT NULL,
    policy_version TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    version        INTEGER NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    hash         BLOB NOT NULL,     -- SHA-256 of the session secret
    username     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_username ON sessions (username);

-- +goose Down
DROP TABLE sessions;
DROP TABLE operators;
