package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/cofferhq/coffer/internal/sqlstore"
)

// Snapshot runs fn in one read transaction on a connection of the read
// pool. Under WAL the transaction sees the database as of its first read
// while the writer goes on committing; nothing it reads changes under it.
func (s *Store) Snapshot(ctx context.Context, fn func(sqlstore.SnapshotTx) error) error {
	conn, err := s.rdb.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// BEGIN DEFERRED: a read transaction (the pool's _txlock=immediate
	// applies to BeginTx only, which would ask for the write lock).
	if _, err := conn.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`) //nolint:errcheck // read-only: nothing to keep
	return fn(snapTx{conn})
}

type snapTx struct{ conn *sql.Conn }

func (t snapTx) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	rs, err := t.conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return rows{rs}, nil
}

func (t snapTx) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rs, err := t.conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rs.Err()
}

func (t snapTx) Tables(ctx context.Context) ([]string, error) {
	return t.strings(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version' ORDER BY name`)
}

func (t snapTx) Columns(ctx context.Context, table string) ([]string, error) {
	return t.strings(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
}

// Load creates a new database at path, migrates it and runs fn in one
// write transaction on it (a restore). path must not exist; when fn or the
// commit fails the new files are removed. The load does not fsync as it
// goes; the file is synced once at the end.
func Load(ctx context.Context, path string, fn func(context.Context, sqlstore.LoadTx) error) (err error) {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s already exists: restore fills an empty target only", path)
	}
	defer func() {
		if err != nil {
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				os.Remove(p)
			}
		}
	}()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", dsn(path, "busy_timeout(10000)", "foreign_keys(on)", "secure_delete(on)", "journal_mode(WAL)", "synchronous(OFF)", "cache_size(-262144)"))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	lt := newConnTx(tx)
	if err := fn(ctx, lt); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	// The load ran with synchronous=OFF (a failed load is deleted, not
	// recovered): make the result durable once, here.
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
