package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

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

// imageRun is how many bytes of pages Pages hands over at a time.
const imageRun = 256 << 10

// Pages reads the database page by page through sqlite_dbpage, in the
// snapshot's transaction: each page as the transaction sees it (from the
// WAL where it is newer there), the copy SQLite's online backup makes,
// without a destination file. secure_delete keeps deleted cells and free
// pages zeroed, so the image holds no more than the tables do.
func (t snapTx) Pages(ctx context.Context, start func(pageSize int, pages int64) error, data func([]byte) error) error {
	var size int
	var pages int64
	if err := t.conn.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size); err != nil {
		return err
	}
	if err := t.conn.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		return err
	}
	if err := start(size, pages); err != nil {
		return err
	}
	rs, err := t.conn.QueryContext(ctx, `SELECT pgno, data FROM sqlite_dbpage ORDER BY pgno`)
	if err != nil {
		return err
	}
	defer rs.Close()
	run := make([]byte, 0, imageRun)
	var n int64
	var page sql.RawBytes
	for rs.Next() {
		var pgno int64
		if err := rs.Scan(&pgno, &page); err != nil {
			return err
		}
		if n++; pgno != n || len(page) != size {
			return fmt.Errorf("image: page %d of %d bytes where page %d of %d was due", pgno, len(page), n, size)
		}
		if run = append(run, page...); len(run)+size > imageRun {
			if err := data(run); err != nil {
				return err
			}
			run = run[:0]
		}
	}
	if err := rs.Err(); err != nil {
		return err
	}
	if n != pages {
		return fmt.Errorf("image: %d pages read of %d", n, pages)
	}
	if len(run) > 0 {
		return data(run)
	}
	return nil
}

// WriteImage writes a database image to a new file at path with fill
// (which verifies what it writes, see backup.Reader.CopyImage) and syncs
// it. On failure the file is removed: an unverified image is never left
// to be opened.
func WriteImage(path string, fill func(io.Writer) error) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

// ErrNewerSchema marks an image whose schema a newer Coffer migrated.
var ErrNewerSchema = errors.New("the database was written by a newer Coffer")

// CheckImage opens the image at path read-only, refuses one whose schema
// is newer than this build's migrations, and runs fn in a snapshot of it
// (a restore compares the manifest's row counts). Nothing is migrated.
func CheckImage(ctx context.Context, path string, fn func(sqlstore.SnapshotTx) error) error {
	latest, err := latestMigration()
	if err != nil {
		return err
	}
	s, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Snapshot(ctx, func(tx sqlstore.SnapshotTx) error {
		var v int64
		if err := tx.(snapTx).conn.QueryRowContext(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version`).Scan(&v); err != nil {
			return fmt.Errorf("not a Coffer database: %w", err)
		}
		if v > latest {
			return fmt.Errorf("%w (schema version %d, this one knows up to %d): upgrade coffer", ErrNewerSchema, v, latest)
		}
		return fn(tx)
	})
}

// latestMigration is the version of the newest embedded migration (goose
// names them NNNNN_name.sql).
func latestMigration() (int64, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return 0, err
	}
	var v int64
	for _, n := range names {
		num, _, _ := strings.Cut(path.Base(n), "_")
		x, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("migration %s: %w", n, err)
		}
		v = max(v, x)
	}
	return v, nil
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
	return LoadInto(ctx, path, fn)
}

// LoadInto migrates the database at path (a restored image, or a new
// one) and runs fn in one write transaction on it, then folds the WAL back
// and syncs the file. The caller removes the files when it fails.
func LoadInto(ctx context.Context, path string, fn func(context.Context, sqlstore.LoadTx) error) error {
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
