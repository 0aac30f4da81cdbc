// Package audit is the tamper-evident audit log: the canonical encoding and
// SHA-256 hash chain of entries, the signed head and checkpoints that
// detect truncation, the witness file, and the verification that names the
// first bad sequence number.
//
// Each entry's hash covers every field of the entry and the previous
// entry's hash, so editing, deleting or reordering any entry breaks the
// chain at that entry. Deleting entries at the end keeps the chain intact,
// so the store also keeps a head (last seq and hash) signed with Ed25519
// after every commit; verification requires the chain to end at the head.
// The writer keeps the last head it signed and refuses to extend a log
// whose stored tail moved underneath (internal/sqlstore.AuditGuard).
//
// Entry formats: format 1 (domain coffer/audit/v1) had no views; format 2
// (coffer/audit/v2) follows each field name with the view it was returned
// in. A log opened by a format-2 writer for the first time gets a signed
// KindFormat checkpoint at its tail: entries up to it verify as format 1.
//
// Checkpoints (seq, hash, time, counter, key version, Ed25519) are written
// every N entries and at least every minute, stored in the database and
// appended to a witness file outside the data directory, with the public
// key. What a witness on the same host does and does not protect against:
// it catches whoever can write the database but not the witness file — a
// leaked database password, a PostgreSQL administrator, a database file
// replaced or edited while the server is stopped — when they shorten the
// log, edit and re-hash it, or roll it back to an old signed head, since
// the witness holds later checkpoints they can neither forge nor remove. It
// does not protect against someone who can also write the witness file
// (root, or the account coffer runs as): they can cut both back together.
// For that, send checkpoints to another machine (a remote append-only
// store, syslog to a log host) as well.
package audit
