package sqlstore

import (
	"context"
	"strconv"
	"strings"
)

// Dialect is what differs between the SQL of SQLite and of PostgreSQL in
// this package's statements: how parameters are written, and row locks.
// A row lock is written as the comment /*FOR KEY SHARE*/ (or
// /*FOR UPDATE*/) at the end of a SELECT: PostgreSQL's dialect renders it
// as the clause (nodes write concurrently), SQLite runs it as the comment
// it is (one writer: nothing to lock). Upserts
// (INSERT … ON CONFLICT … DO NOTHING / DO UPDATE SET x = excluded.x) and
// DELETE … RETURNING are spelled the same in both, and no statement uses
// a function only one of them has (max(a, b) is written as a condition).
type Dialect struct {
	// Numbered parameters ($1, $2, … as PostgreSQL) instead of ?.
	Numbered bool
	// RowLocks renders /*FOR KEY SHARE*/ and /*FOR UPDATE*/ as clauses.
	RowLocks bool
}

// Row-lock comments (see Dialect).
const (
	lockKeyShare = ` /*FOR KEY SHARE*/`
	lockUpdate   = ` /*FOR UPDATE*/`
)

// Postgres is PostgreSQL's dialect; SQLite's is the zero Dialect, which
// takes the statements as written.
var Postgres = Dialect{Numbered: true, RowLocks: true}

// SQL renders a statement written with ? parameters in the dialect (the
// statements of this package hold no ? inside literals).
func (d Dialect) SQL(q string) string {
	if d.RowLocks && strings.Contains(q, "/*FOR ") {
		q = strings.NewReplacer(lockKeyShare, " FOR KEY SHARE", lockUpdate, " FOR UPDATE").Replace(q)
	}
	if !d.Numbered || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := range len(q) {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Row is a result row of either driver. Scan returns an error that
// errors.Is sql.ErrNoRows when there is none (pgx.ErrNoRows is one).
type Row interface{ Scan(dest ...any) error }

// Rows is a result set of either driver; the caller closes it.
type Rows interface {
	Row
	Next() bool
	Err() error
	Close()
}

// DB runs reads outside the writer, on the store's read pool. Statements
// are written with ? parameters; the implementation renders them in its
// dialect (and may prepare and keep them).
type DB interface {
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) Row
}

// Tx is the writer's open transaction, with statements written as for DB.
type Tx interface {
	// Exec runs a statement and returns the number of rows it changed.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	QueryRow(ctx context.Context, q string, args ...any) Row
}

// ErrRow is a row whose Scan fails with Err (a statement that could not be
// prepared).
type ErrRow struct{ Err error }

// Scan implements Row.
func (r ErrRow) Scan(...any) error { return r.Err }
