package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/internal/sqlstore"
)

// Snapshot runs fn in one REPEATABLE READ READ ONLY transaction: every
// query sees the database as of the transaction's first statement, while
// the writers go on committing.
func (s *Store) Snapshot(ctx context.Context, fn func(sqlstore.SnapshotTx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	return fn(snapTx{tx})
}

type snapTx struct{ tx pgx.Tx }

func (t snapTx) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return t.tx.Query(ctx, sqlstore.Postgres.SQL(q), args...)
}

func (t snapTx) Tables(ctx context.Context) ([]string, error) {
	return strs(ctx, t.tx, `SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()
		AND table_type = 'BASE TABLE' AND table_name <> 'goose_db_version' ORDER BY table_name`)
}

func (t snapTx) Columns(ctx context.Context, table string) ([]string, error) {
	return strs(ctx, t.tx, `SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema()
		AND table_name = $1 ORDER BY ordinal_position`, table)
}

func strs(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]string, error) {
	rs, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rs, pgx.RowTo[string])
}

// Load migrates the database of dsn and runs fn in one transaction on it
// (a restore). The database must hold no Coffer data: any row in a table
// other than the seeded audit head refuses the load, and a failed load
// rolls back whole.
func Load(ctx context.Context, dsn string, fn func(context.Context, sqlstore.LoadTx) error) error {
	s, err := Open(ctx, dsn, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit: a no-op
	st := snapTx{tx}
	tables, err := st.Tables(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		var n int64
		q := `SELECT count(*) FROM "` + t + `"`
		if t == "audit_head" {
			q += ` WHERE seq <> 0`
		}
		if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("the database is not empty (table %s holds %d rows): restore fills an empty database only", t, n)
		}
	}
	if err := fn(ctx, loadTx{pgTx{tx}}); err != nil {
		return err
	}
	// Rows were inserted with their own serial numbers: move the sequences
	// past them.
	seqs, err := tx.Query(ctx, `SELECT table_name::text, column_name::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_default LIKE 'nextval%'`)
	if err != nil {
		return err
	}
	type col struct{ table, column string }
	cols, err := pgx.CollectRows(seqs, func(r pgx.CollectableRow) (c col, err error) { return c, r.Scan(&c.table, &c.column) })
	if err != nil {
		return err
	}
	for _, c := range cols {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), coalesce(max("%s"), 0) + 1, false) FROM "%s"`,
			c.table, c.column, c.column, c.table)); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

type loadTx struct{ pgTx }

func (t loadTx) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return t.tx.Query(ctx, sqlstore.Postgres.SQL(q), args...)
}
