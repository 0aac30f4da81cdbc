-- +goose Up
CREATE TABLE operators (
    username       TEXT PRIMARY KEY,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    totp_secret    BYTEA NOT NULL,   -- sealed
    totp_last_step BIGINT NOT NULL,
    mfa_enrolled   BIGINT NOT NULL,
    locked         BIGINT NOT NULL,
    locked_until   BIGINT NOT NULL,
    failed_logins  BIGINT NOT NULL,
    policy_version TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    version        BIGINT NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    hash         BYTEA NOT NULL,     -- SHA-256 of the session secret
    username     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_username ON sessions (username);

-- +goose Down
DROP TABLE sessions;
DROP TABLE operators;
