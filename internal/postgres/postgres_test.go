package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/pgtest"
	"github.com/cofferhq/coffer/internal/postgres"
	"github.com/cofferhq/coffer/internal/sqlstore"
	"github.com/cofferhq/coffer/internal/storetest"
)

// open gives each test its own PostgreSQL schema, dropped on cleanup.
func open(t *testing.T) coffer.Store {
	s, _ := openDisk(t)
	return s
}

// openDisk is open and the store's Disk: the files of the schema's tables
// and their indexes, read by the server (pg_read_binary_file: the test
// connects as a superuser) after a CHECKPOINT has written them out.
// PostgreSQL keeps deleted rows as dead tuples until VACUUM, so the scan
// runs one first (VACUUM FULL: a plain one leaves the bytes of pruned
// tuples in the page); what it does not read is the WAL and the files
// VACUUM FULL unlinked.
func openDisk(t *testing.T) (coffer.Store, storetest.Disk) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	sdsn := pgtest.SchemaOn(t, dsn)
	schema := pgtest.SchemaName(sdsn)
	signer, _ := audit.NewSigner(coffer.NewSecret(make([]byte, 32)))
	s, err := postgres.Open(ctx, sdsn, signer)
	if err != nil {
		t.Fatal(err)
	}
	return s, func(t *testing.T) map[string][]byte {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var tables []string
		rows, err := c.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`, schema)
		if err == nil {
			tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, tbl := range tables {
			if _, err := c.Exec(ctx, "VACUUM FULL "+schema+"."+tbl); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Exec(ctx, "CHECKPOINT"); err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		rows, err = c.Query(ctx, `SELECT c.relname, pg_read_binary_file(pg_relation_filepath(c.oid)) FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'i', 't')
			OR c.oid IN (SELECT reltoastrelid FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace WHERE n2.nspname = $1)`, schema)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			var b []byte
			if err := rows.Scan(&name, &b); err != nil {
				t.Fatal(err)
			}
			files[name] = b
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return files
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, openDisk)
}

func TestChainVerifies(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	for range 5 {
		if err := s.AppendAudit(ctx, &coffer.AuditEntry{Actor: "a", Action: "read", Outcome: coffer.OutcomeAllowed}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.NewSigner(coffer.NewSecret(make([]byte, 32)))
	if n, err := audit.Verify(s.AuditLog(ctx), head, signer.PublicKeys()); err != nil || n != 5 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

// freshSchema creates a schema dropped on cleanup and returns a DSN that
// uses it.
func freshSchema(t *testing.T) string { return pgtest.Schema(t) }

func TestIntegrity(t *testing.T) {
	storetest.RunIntegrity(t, func(t *testing.T, o storetest.IntegrityOptions) storetest.Database {
		dsn := freshSchema(t)
		open := func(t *testing.T, sg *audit.Signer) coffer.Store {
			s, err := postgres.OpenWith(context.Background(), dsn, postgres.Options{Signer: sg, Witness: o.Witness, CheckpointEvery: o.Every})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return storetest.Database{
			Open:       func(t *testing.T) coffer.Store { return open(t, o.Signer) },
			OpenSigner: open,
			Exec: func(t *testing.T, q string, args ...any) {
				ctx := context.Background()
				c, err := pgx.Connect(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(ctx)
				if _, err := c.Exec(ctx, sqlstore.Postgres.SQL(q), args...); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
