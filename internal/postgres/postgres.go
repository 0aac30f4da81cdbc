package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

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
}

// Open connects to dsn, migrates the schema and returns the store. signer
// signs the audit head (nil: unsigned).
func Open(ctx context.Context, dsn string, signer *audit.Signer) (*Store, error) {
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
	w := newWriter(pool, signer)
	return &Store{Store: &sqlstore.Store{DB: poolDB{pool}, W: w}, pool: pool, w: w}, nil
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
	s.w.close()
	s.pool.Close()
	return nil
}
