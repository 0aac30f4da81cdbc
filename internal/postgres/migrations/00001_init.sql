-- +goose Up
CREATE TABLE subjects (
    id          TEXT PRIMARY KEY,
    dek         BYTEA NOT NULL,
    kek_version BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE records (
    id         TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    subject    TEXT NOT NULL,
    fields     BYTEA NOT NULL,
    idx        BYTEA NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX records_subject ON records (subject);

CREATE TABLE blind_index (
    collection TEXT NOT NULL,
    field      TEXT NOT NULL,
    hash       BYTEA NOT NULL,
    record     TEXT NOT NULL,
    PRIMARY KEY (collection, field, hash, record)
);

CREATE TABLE audit (
    seq        BIGINT PRIMARY KEY,
    time       BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    collection TEXT NOT NULL,
    record     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    fields     TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    client_ip  TEXT NOT NULL,
    request_id TEXT NOT NULL,
    prev_hash  BYTEA,
    hash       BYTEA NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, seq);
CREATE INDEX audit_actor ON audit (actor, seq);

-- One row, locked by every transaction that extends the chain: the chain
-- is one sequence even with many coffer nodes on one database.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       BIGINT NOT NULL,
    hash      BYTEA,
    signature BYTEA
);
INSERT INTO audit_head (id, seq) VALUES (1, 0);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    hash          BYTEA NOT NULL,
    allowed_cidrs TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT NOT NULL
);

CREATE TABLE schema_doc (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    doc        BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE schema_doc;
DROP TABLE api_keys;
DROP TABLE audit_head;
DROP TABLE audit;
DROP TABLE blind_index;
DROP TABLE records;
DROP TABLE subjects;
