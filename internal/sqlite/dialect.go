package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"github.com/cofferhq/coffer/internal/sqlstore"
)

// SQLite takes sqlstore's statements as written (? parameters). Parsing
// SQL is a large part of a point read's or a small write's cost in SQLite
// (a 100-row INSERT more than running it), so both adapters prepare each
// statement once and keep it, up to maxPrepared statements; beyond that
// (audit filters and token look-ups vary with their input) statements run
// unprepared.
const maxPrepared = 256

// connTx is a transaction with its statements prepared once: the writer's
// (its one connection, on which it begins and commits; only the writer
// goroutine uses it) or a restore's (a *sql.Tx).
type connTx struct {
	conn  preparer
	stmts map[string]*sql.Stmt
}

// preparer is what *sql.Conn and *sql.Tx have in common here.
type preparer interface {
	PrepareContext(ctx context.Context, q string) (*sql.Stmt, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func newConnTx(conn preparer) *connTx { return &connTx{conn: conn, stmts: map[string]*sql.Stmt{}} }

// Query implements sqlstore.Tx; queries vary with their input, so they run
// unprepared.
func (t *connTx) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	rs, err := t.conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return rows{rs}, nil
}

func (t *connTx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st := t.stmts[q]; st != nil {
		return st, nil
	}
	st, err := t.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(t.stmts) < maxPrepared {
		t.stmts[q] = st
	}
	return st, nil
}

// Exec implements sqlstore.Tx.
func (t *connTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// QueryRow implements sqlstore.Tx.
func (t *connTx) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return sqlstore.ErrRow{Err: err}
	}
	return st.QueryRowContext(ctx, args...)
}

// readDB is the read pool, with its statements prepared once (a *sql.Stmt
// of a *sql.DB is safe for concurrent use and re-prepares itself on each
// pooled connection as needed).
type readDB struct {
	db    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func newReadDB(db *sql.DB) *readDB { return &readDB{db: db, stmts: map[string]*sql.Stmt{}} }

// stmt returns q prepared, or nil when the cache is full.
func (r *readDB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	r.mu.RLock()
	st, n := r.stmts[q], len(r.stmts)
	r.mu.RUnlock()
	if st != nil || n >= maxPrepared {
		return st, nil
	}
	st, err := r.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stmts == nil { // closed
		st.Close()
		return nil, nil
	}
	if old := r.stmts[q]; old != nil { // prepared concurrently
		st.Close()
		return old, nil
	}
	r.stmts[q] = st
	return st, nil
}

// rows adapts *sql.Rows to sqlstore.Rows.
type rows struct{ *sql.Rows }

func (r rows) Close() { r.Rows.Close() }

// Query implements sqlstore.DB.
func (r *readDB) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	st, err := r.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	var rs *sql.Rows
	if st != nil {
		rs, err = st.QueryContext(ctx, args...)
	} else {
		rs, err = r.db.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	return rows{rs}, nil
}

// QueryRow implements sqlstore.DB.
func (r *readDB) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	st, err := r.stmt(ctx, q)
	if err != nil {
		return sqlstore.ErrRow{Err: err}
	}
	if st == nil {
		return r.db.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (r *readDB) close() error {
	r.mu.Lock()
	for _, st := range r.stmts {
		st.Close()
	}
	r.stmts = nil
	r.mu.Unlock()
	return r.db.Close()
}
