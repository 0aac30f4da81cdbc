// Package sqlite is the embedded store: coffer.Store on SQLite (the pure-Go
// modernc.org/sqlite driver) in WAL mode. Its statements, the order in
// which a change is applied and every read are internal/sqlstore's; this
// package opens and migrates the database, adapts the driver (dialect.go:
// statements prepared once) and runs the writer.
//
// All writes go through one writer goroutine on one connection. It takes
// every change queued while the previous transaction was being synced,
// applies them and their audit entries in a single transaction, signs the
// new head of the audit log and commits with synchronous=NORMAL: the
// frames are in the WAL but not yet on stable storage. A syncer goroutine
// then fsyncs the WAL file itself and only then answers the callers (group
// commit; the next transaction runs meanwhile). A failed fsync fails the
// store closed: no later write is accepted. (The connection is opened with
// synchronous=FULL so that migrations are durable; the writer lowers it.)
// A change that fails (a conflict, a record that is gone) is rolled back
// alone: the batch is replayed without it and its audit entries are
// written with outcome "error". Because there is one writer, "database is
// locked" cannot happen between writers; readers use a separate pool and
// see committed data only.
package sqlite
