package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/backup"
	"github.com/cofferhq/coffer/internal/seal"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

// backupSource is an opened backup. An image (SQLite's pages) is written
// to a file and verified in full — payload hash, signature, row counts,
// schema version — before anything opens it for writing; a logical backup
// (rows) is a stream still to load, verified as it is read (fill).
type backupSource struct {
	r        *backup.Reader
	first    backup.Item // a logical backup's first item
	firstErr error
	image    string // the verified image's path; "" for rows
	path     string // where openSource was told to put an image
	manifest backup.Manifest
	rows     int64
}

// openSource reads the start of r. An image goes to imagePath (a new
// file; removed when it does not verify).
func openSource(ctx context.Context, r *backup.Reader, imagePath string) (*backupSource, error) {
	it, err := r.Next()
	src := &backupSource{r: r, first: it, firstErr: err, path: imagePath}
	if err != nil || it.Image == nil {
		return src, nil
	}
	if err := sqlite.WriteImage(imagePath, r.CopyImage); err != nil {
		return nil, err
	}
	src.manifest, _ = r.Manifest()
	err = sqlite.CheckImage(ctx, imagePath, func(tx sqlstore.SnapshotTx) error {
		counts, err := sqlstore.TableCounts(ctx, tx)
		if err != nil {
			return err
		}
		return backup.CheckCounts(src.manifest, counts)
	})
	if errors.Is(err, sqlite.ErrNewerSchema) {
		err = fmt.Errorf("%w: %w", backup.ErrUnreadable, err)
	}
	if err != nil {
		removeDB(imagePath)
		return nil, err
	}
	src.image = imagePath
	for _, n := range src.manifest.Tables {
		src.rows += n
	}
	return src, nil
}

// removeDB removes a database file and its journals.
func removeDB(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
}

// intoSQLite restores src into a new SQLite database at the path given
// to openSource: an image is the database already (written there) and is
// migrated and finished in place; rows are loaded into a new database.
// finish runs in the load's transaction, after the rows.
func (s *backupSource) intoSQLite(ctx context.Context, finish func(context.Context, sqlstore.LoadTx) error) error {
	path := s.path
	if s.image != "" {
		if err := sqlite.LoadInto(ctx, path, finish); err != nil {
			removeDB(path)
			return err
		}
		return nil
	}
	return sqlite.Load(ctx, path, func(ctx context.Context, lt sqlstore.LoadTx) error {
		if err := s.fill(ctx, lt); err != nil {
			return err
		}
		return finish(ctx, lt)
	})
}

// finishFunc is what a restore does in the load's transaction once the
// rows are in (backupSource.finish, the restore checkpoint).
type finishFunc func(ctx context.Context, lt sqlstore.LoadTx, src *backupSource) error

func (s *backupSource) finishWith(f finishFunc) func(context.Context, sqlstore.LoadTx) error {
	return func(ctx context.Context, lt sqlstore.LoadTx) error { return f(ctx, lt, s) }
}

// fill loads src's rows into lt, an empty, migrated store: a logical
// backup's rows as they are read (the manifest is verified at their end),
// or the tables of a verified image (SQLite → PostgreSQL).
func (s *backupSource) fill(ctx context.Context, lt sqlstore.LoadTx) error {
	l := &sqlstore.Loader{Tx: lt}
	if s.image != "" {
		st, err := sqlite.Open(ctx, s.image, sqlite.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		sink := &loadSink{ctx: ctx, l: l}
		return st.Snapshot(ctx, func(tx sqlstore.SnapshotTx) error {
			_, err := sqlstore.Dump(ctx, tx, sink)
			return err
		})
	}
	for it, err := s.first, s.firstErr; ; it, err = s.r.Next() {
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if it.Row == nil {
			err = l.Table(ctx, it.Table, it.Columns)
		} else {
			s.rows++
			err = l.Row(ctx, it.Row)
		}
		if err != nil {
			return drain(s.r, err)
		}
	}
	s.manifest, _ = s.r.Manifest()
	return nil
}

// loadSink feeds a Dump into a Loader.
type loadSink struct {
	ctx context.Context
	l   *sqlstore.Loader
}

func (k *loadSink) Table(name string, columns ...string) error {
	return k.l.Table(k.ctx, name, columns)
}
func (k *loadSink) Row(values ...any) error { return k.l.Row(k.ctx, values) }

// openTemp opens r with a temporary place for its image, for targets that
// are not a SQLite data directory (a drill, PostgreSQL): a new directory
// only this user reads, which done removes.
func openTemp(ctx context.Context, r *backup.Reader) (src *backupSource, done func(), err error) {
	dir, err := os.MkdirTemp("", "coffer-image-")
	if err != nil {
		return nil, nil, err
	}
	done = func() { os.RemoveAll(dir) }
	if src, err = openSource(ctx, r, filepath.Join(dir, "coffer.db")); err != nil {
		done()
		return nil, nil, err
	}
	return src, done, nil
}

// restoreStats is what a load reports.
type restoreStats struct {
	Manifest backup.Manifest
	Rows     int64
	Erased   int   // subjects erased again from the ledger
	Entries  int64 // audit entries verified
}

// finish checks, in the load's transaction and after the rows, the audit
// chain the backup brought and, with keys, replays the ledger. The
// caller's transaction commits only when this returns nil.
func (s *backupSource) finish(ctx context.Context, lt sqlstore.LoadTx, trusted trustedKeys, keys *coffer.RootKeys, ledger []client.LedgerEntry) (restoreStats, error) {
	st := restoreStats{Manifest: s.manifest, Rows: s.rows}
	var err error
	if st.Entries, err = checkChain(ctx, lt, trusted, st.Manifest); err != nil {
		return st, err
	}
	if len(ledger) == 0 {
		return st, nil
	}
	sealer, err := seal.New(keys)
	if err != nil {
		return st, err
	}
	// Each entry keeps the derived version it was hashed under: a subject
	// is matched under every version the ledger names.
	erased := make(map[string]coffer.LedgerEntry, len(ledger))
	versions := map[uint32]bool{}
	for _, e := range ledger {
		erased[string(e.Hash)] = coffer.LedgerEntry{Hash: e.Hash, Version: e.KeyVersion, ErasedAt: e.ErasedAt}
		versions[e.KeyVersion] = true
	}
	subjects, err := sqlstore.Subjects(ctx, lt)
	if err != nil {
		return st, err
	}
	for _, s := range subjects {
		for ver := range versions {
			h, err := sealer.LedgerHash(ver, s)
			if err != nil {
				return st, err
			}
			e, ok := erased[string(h)]
			if !ok || e.Version != ver {
				continue
			}
			if err := sqlstore.EraseAgain(ctx, lt, s, e); err != nil {
				return st, err
			}
			st.Erased++
			break
		}
	}
	for _, e := range erased {
		if err := sqlstore.AddLedger(ctx, lt, e); err != nil {
			return st, err
		}
	}
	return st, nil
}

// drain reads the rest of a backup whose rows did not load: when the file
// itself is wrong (a forgery, a flipped byte) that is the error to report,
// not the load failure its unverified rows caused.
func drain(r *backup.Reader, loadErr error) error {
	for {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			return loadErr
		} else if err != nil {
			return err
		}
	}
}

// checkChain verifies the audit chain a load wrote, inside its
// transaction, up to the signed head, and that the head is the
// manifest's: a restore that fails here commits nothing. The head may be
// signed by any trusted key version (a rotation between the last commit
// and the manifest's signature moves the current key).
func checkChain(ctx context.Context, lt sqlstore.LoadTx, trusted trustedKeys, m backup.Manifest) (int64, error) {
	head, err := sqlstore.AuditHeadTx(ctx, lt)
	if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return 0, err
	}
	n, err := audit.Verify(sqlstore.AuditLogTx(ctx, lt), head, trusted)
	if err != nil {
		return n, err
	}
	var hseq int64
	var hhash []byte
	if head != nil {
		hseq, hhash = head.Seq, head.Hash
	}
	if hseq != m.AuditSeq || !bytes.Equal(hhash, m.AuditHash) {
		return n, &audit.Failure{Seq: m.AuditSeq, Reason: fmt.Sprintf("the restored log ends at seq %d, the manifest names seq %d", hseq, m.AuditSeq)}
	}
	return n, nil
}
