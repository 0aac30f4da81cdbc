package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/internal/sqlstore"
)

// PostgreSQL numbers its parameters: the adapters render sqlstore's
// statements with sqlstore.Postgres. pgx prepares each statement on first
// use per connection and keeps it (QueryExecModeCacheStatement).

// poolDB is the read side: the pool. Its errors are classified
// (unavailable): a database that cannot be reached is EUNAVAILABLE.
type poolDB struct{ pool *pgxpool.Pool }

// Query implements sqlstore.DB.
func (d poolDB) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	rs, err := d.pool.Query(ctx, sqlstore.Postgres.SQL(q), args...)
	if err != nil {
		return nil, unavailable(err)
	}
	return rows{rs}, nil
}

// QueryRow implements sqlstore.DB.
func (d poolDB) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return row{d.pool.QueryRow(ctx, sqlstore.Postgres.SQL(q), args...)}
}

type row struct{ r pgx.Row }

func (r row) Scan(dest ...any) error { return unavailable(r.r.Scan(dest...)) }

type rows struct{ pgx.Rows }

func (r rows) Scan(dest ...any) error { return unavailable(r.Rows.Scan(dest...)) }
func (r rows) Err() error             { return unavailable(r.Rows.Err()) }

// pgTx is the writer's open transaction.
type pgTx struct{ tx pgx.Tx }

// Exec implements sqlstore.Tx.
func (t pgTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, sqlstore.Postgres.SQL(q), args...)
	return tag.RowsAffected(), err
}

// QueryRow implements sqlstore.Tx.
func (t pgTx) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return t.tx.QueryRow(ctx, sqlstore.Postgres.SQL(q), args...)
}
