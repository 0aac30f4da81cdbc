package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

// busyTimeoutMS is how long a connection waits for a lock another
// connection holds (another process's write, a checkpoint).
const busyTimeoutMS = 10_000

//go:embed migrations/*.sql
var migrations embed.FS

var _ coffer.Store = (*Store)(nil)

// Options tune a Store.
type Options struct {
	// Signer signs the audit head after every commit. Nil disables head
	// signing (verification then cannot detect truncation).
	Signer *audit.Signer
	// Witness, when set, receives every audit checkpoint.
	Witness *audit.WitnessFile
	// CheckpointEvery and CheckpointInterval: a signed checkpoint after
	// that many entries or that long (defaults 1000, one minute).
	CheckpointEvery    int64
	CheckpointInterval time.Duration
	// Logger receives audit_tamper and witness_failed (default: none).
	Logger *slog.Logger
	// MaxBatch bounds the number of changes in one transaction (default 512).
	MaxBatch int
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	// ReadOnly opens the database for inspection only (coffer audit verify).
	ReadOnly bool
	// CacheRecords bounds the cache of sealed records (default 100,000).
	CacheRecords int
	// FinalWait bounds how long an erasure's truncating checkpoint waits
	// for reads that still use older pages of the WAL (default 5 s; every
	// other write waits too). Past it the erasure is committed but not
	// final, and is answered EUNAVAILABLE; see writer.finalize.
	FinalWait time.Duration
}

// Store is coffer.Store on SQLite: sqlstore's statements over a read pool
// and the writer, with a cache of records in front of the reads.
type Store struct {
	*sqlstore.Store
	path  string
	opts  Options
	wdb   *sql.DB // one connection, owned by the writer goroutine
	rdb   *readDB
	cache *recordCache

	w *writer

	closeOnce sync.Once
	closeErr  error
}

func dsn(path string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.CacheRecords <= 0 {
		opts.CacheRecords = 100_000
	}
	if opts.FinalWait <= 0 {
		opts.FinalWait = 5 * time.Second
	}
	s := &Store{path: path, opts: opts, cache: newRecordCache(opts.CacheRecords)}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// secure_delete: deleted rows are overwritten in their pages, so an
	// erased subject's wrapped DEK and ciphertexts do not linger in free
	// space (crypto-shredding is only as good as the deletion of the key).
	common := []string{"busy_timeout(" + strconv.Itoa(busyTimeoutMS) + ")", "foreign_keys(on)", "secure_delete(on)", "temp_store(memory)"}
	// Readers get small page caches: SQLite empties a reader's cache at the
	// start of every read transaction after the WAL changed, which under a
	// steady write load is nearly every time.
	rdb, err := sql.Open("sqlite", dsn(path, append(common, "query_only(1)", "cache_size(-4096)")...))
	if err != nil {
		return nil, err
	}
	rdb.SetMaxOpenConns(opts.ReadConns)
	rdb.SetMaxIdleConns(opts.ReadConns)
	rdb.SetConnMaxLifetime(0)
	s.rdb = newReadDB(rdb)
	s.Store = &sqlstore.Store{DB: s.rdb, OnCommit: s.cache.committed}
	if opts.ReadOnly {
		return s, rdb.PingContext(ctx)
	}
	defer func() {
		if s.w == nil { // Open failed
			s.closeDBs()
		}
	}()

	// Small pages: a batch of creates dirties a few random leaves per record
	// (blind indexes, subjects, the audit log's subject index), and each
	// dirty page is written whole to the WAL and again at checkpoint.
	// 1 KiB pages cut those bytes by four against the 4 KiB default.
	wdb, err := sql.Open("sqlite", dsn(path, append([]string{"page_size(1024)"}, append(common, "cache_size(-32768)", "journal_mode(WAL)", "synchronous(FULL)", "wal_autocheckpoint(32768)")...)...))
	if err != nil {
		rdb.Close()
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	s.wdb = wdb
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	w, err := newWriter(ctx, wdb, path, opts)
	if err != nil {
		return nil, err
	}
	s.w, s.Store.W = w, w
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.wdb, sub)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

func (s *Store) closeDBs() {
	if s.wdb != nil {
		s.wdb.Close()
	}
	s.rdb.close()
}

// Close stops the writer after the changes already queued and closes the
// database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.w != nil {
			s.w.close()
			// Fold the WAL back into the database file on a clean shutdown.
			_, _ = s.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		}
		s.closeErr = errors.Join(s.rdb.close(), func() error {
			if s.wdb != nil {
				return s.wdb.Close()
			}
			return nil
		}())
	})
	return s.closeErr
}

// Stats are counters of the writer, for metrics.
type Stats struct {
	Commits int64 // transactions committed
	Changes int64 // changes (and audit-only appends) in them
	// Truncates counts the truncating checkpoints run to make erasures
	// final (final.go).
	Truncates int64
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	if s.w == nil {
		return Stats{}
	}
	return Stats{Commits: s.w.nCommits.Load(), Changes: s.w.nChanges.Load(), Truncates: s.w.nTruncates.Load()}
}
