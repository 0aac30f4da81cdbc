-- +goose Up
CREATE TABLE subjects (
    id          TEXT PRIMARY KEY,
    dek         BLOB NOT NULL,     -- the DEK wrapped under KEK kek_version
    kek_version INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE records (
    id         TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    subject    TEXT NOT NULL,
    fields     BLOB NOT NULL,      -- field name → ciphertext, see encodeFields
    idx        BLOB NOT NULL,      -- the record's blind-index entries, to delete them by key
    version    INTEGER NOT NULL,   -- bumped by every update (optimistic concurrency)
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX records_subject ON records (subject);

-- Blind indexes: truncated HMACs of searchable values, never the values.
CREATE TABLE blind_index (
    collection TEXT NOT NULL,
    field      TEXT NOT NULL,
    hash       BLOB NOT NULL,
    record     TEXT NOT NULL,
    PRIMARY KEY (collection, field, hash, record)
) WITHOUT ROWID;

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,   -- Unix nanoseconds, UTC
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    collection TEXT NOT NULL,
    record     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    fields     TEXT NOT NULL,      -- field names joined by ','
    purpose    TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    client_ip  TEXT NOT NULL,
    request_id TEXT NOT NULL,
    prev_hash  BLOB,
    hash       BLOB NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, seq);
CREATE INDEX audit_actor ON audit (actor, seq);

-- The signed end of the audit log, rewritten in every commit.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    hash      BLOB NOT NULL,
    signature BLOB NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    hash          BLOB NOT NULL,   -- SHA-256 of the key's secret part
    allowed_cidrs TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL, -- 0: never
    revoked_at    INTEGER NOT NULL  -- 0: active
) WITHOUT ROWID;

CREATE TABLE schema_doc (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    doc        BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE schema_doc;
DROP TABLE api_keys;
DROP TABLE audit_head;
DROP TABLE audit;
DROP TABLE blind_index;
DROP TABLE records;
DROP TABLE subjects;
