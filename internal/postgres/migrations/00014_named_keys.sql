-- +goose Up
-- FPE keys and deterministic-token namespaces are named, versioned keys
-- (issue 19, SPEC §4): a rotation adds a row. Version 1 of every name has
-- no row (derived-key root version 1); each row records the derived-key
-- root version its key is derived from.
CREATE TABLE named_keys (
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         BIGINT NOT NULL,
    derived_version BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (kind, name, version)
);

-- +goose Down
DROP TABLE named_keys;
