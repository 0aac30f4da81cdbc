package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ coffer.Store = (*Store)(nil)

// Store is coffer.Store on PostgreSQL: sqlstore's statements over the pool
// and the writer.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
	w    *writer
	l    *listener
}

// Options tune a Store.
type Options struct {
	// Signer signs the audit head and checkpoints (nil: unsigned).
	Signer *audit.Signer
	// Witness, when set, receives every audit checkpoint.
	Witness *audit.WitnessFile
	// CheckpointEvery and CheckpointInterval: a signed checkpoint after
	// that many entries or that long (defaults 1000, one minute).
	CheckpointEvery    int64
	CheckpointInterval time.Duration
	// Logger receives audit_tamper and witness_failed (default: none).
	Logger *slog.Logger
}

// Open connects to dsn, migrates the schema and returns the store. signer
// signs the audit head (nil: unsigned).
func Open(ctx context.Context, dsn string, signer *audit.Signer) (*Store, error) {
	return OpenWith(ctx, dsn, Options{Signer: signer})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad DSN: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	w, err := newWriter(ctx, pool, o)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: audit log: %w", err)
	}
	l, err := startListener(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		w.close()
		pool.Close()
		return nil, fmt.Errorf("postgres: listen: %w", err)
	}
	return &Store{Store: &sqlstore.Store{DB: poolDB{pool}, W: w}, pool: pool, w: w, l: l}, nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Close commits what is queued and closes the pool.
func (s *Store) Close() error {
	s.l.close()
	s.w.close()
	s.pool.Close()
	return nil
}
