// Package sqlstore is what the SQLite and PostgreSQL stores share: every
// SQL statement of coffer.Store, written once with ? parameters (a Dialect
// renders them as $n for PostgreSQL), the one function that applies a
// coffer.Change (ApplyChange, in one defined order), the row layout
// (column lists, scanning, the length-prefixed binary encoding of a
// record's sealed fields and blind-index entries, decoded without trusting
// any length read) and Store, which implements coffer.Store over a read
// pool (DB) and a writer (Writer).
//
// What stays in internal/sqlite and internal/postgres is what differs:
// opening and migrating the database, the driver adapters for DB and Tx,
// and the writer (group commit, linking the audit chain and signing its
// head, durability).
//
// The package never reads the clock: times come from the change (Change.At,
// record and request times) or the caller (RevokeAPIKey, SaveSchema,
// TouchAPIKeys, SeeSession); the writers stamp audit entries.
package sqlstore
