-- +goose Up
-- Privacy rights: current consents and restriction on the subject (read
-- with it, one lookup per read), the append-only consent history,
-- data-subject requests, and the erasure ledger (keyed hashes of erased
-- subject ids, replayed by a backup restore).
ALTER TABLE subjects ADD COLUMN restricted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subjects ADD COLUMN consents TEXT NOT NULL DEFAULT '{}';

CREATE TABLE consent_events (
    seq            INTEGER PRIMARY KEY,
    subject        TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    granted        INTEGER NOT NULL,
    time           INTEGER NOT NULL,
    source         TEXT NOT NULL,
    notice_version TEXT NOT NULL
);
CREATE INDEX consent_events_subject ON consent_events (subject, seq);

CREATE TABLE requests (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    regime           TEXT NOT NULL,
    subject          TEXT NOT NULL,
    status           TEXT NOT NULL,
    received_at      INTEGER NOT NULL,
    due_at           INTEGER NOT NULL,
    ack_due_at       INTEGER NOT NULL,
    extended         INTEGER NOT NULL,
    extension_reason TEXT NOT NULL,
    denial_reason    TEXT NOT NULL,
    checklist        TEXT NOT NULL,
    completed_at     INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    version          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX requests_status ON requests (status, received_at);
CREATE INDEX requests_subject ON requests (subject);

CREATE TABLE erasure_ledger (
    hash      BLOB PRIMARY KEY,
    erased_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Retention sweeps find expired records by last update.
CREATE INDEX records_expiry ON records (collection, updated_at);

-- +goose Down
DROP INDEX records_expiry;
DROP TABLE erasure_ledger;
DROP TABLE requests;
DROP TABLE consent_events;
ALTER TABLE subjects DROP COLUMN consents;
ALTER TABLE subjects DROP COLUMN restricted;
