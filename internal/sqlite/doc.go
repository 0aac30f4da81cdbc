// Package sqlite is the embedded store: coffer.Store on SQLite (the pure-Go
// modernc.org/sqlite driver) in WAL mode.
//
// All writes go through one writer goroutine on one connection. It takes
// every change queued while the previous transaction was committing, applies
// them and their audit entries in a single transaction, signs the new head
// of the audit log and commits with synchronous=FULL, so the WAL is fsync'd
// before any of the callers is acknowledged (group commit). A change that
// fails (a conflict, a record that is gone) is rolled back alone: the batch
// is replayed without it and its audit entries are written with outcome
// "error". Because there is one writer, "database is locked" cannot happen
// between writers; readers use a separate pool and see committed data only.
package sqlite
