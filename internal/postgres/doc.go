// Package postgres is coffer.Store on PostgreSQL (pgx), for running many
// stateless coffer nodes on one database. Its statements, the order in
// which a change is applied and every read are internal/sqlstore's; this
// package opens and migrates the database, adapts the driver (dialect.go:
// $n parameters; pgx prepares and caches statements per connection) and
// runs the writer.
//
// Each node has one writer goroutine that group-commits: the changes queued
// while the previous transaction was committing go into the next one, then
// their audit entries. The chain is extended under a row lock on
// audit_head, taken as the last step before COMMIT, so that every node
// appends to one sequence and the lock is held briefly. A change that fails
// with a domain error is rolled back and the batch replayed without it; its
// audit entries stay, marked as errors. A change that panics fails its
// batch (EINTERNAL) and the writer goes on. PostgreSQL's commit (with
// synchronous_commit on, the default) makes the batch durable before any
// caller is answered.
package postgres
