// Package pgtest gives tests a PostgreSQL schema of their own on the
// server named by COFFER_TEST_POSTGRES (.ci/run sets it when a server
// answers). Tests of several packages share that server at once, so each
// works in a fresh schema, dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// DSN returns COFFER_TEST_POSTGRES, or skips the test when it is not set.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("COFFER_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("COFFER_TEST_POSTGRES is not set (a PostgreSQL DSN); .ci/run sets it when a server answers")
	}
	return dsn
}

// Schema creates a fresh schema on the server of COFFER_TEST_POSTGRES
// (skipping the test without it), dropped on cleanup, and returns a DSN
// whose search_path is that schema.
func Schema(t testing.TB) string {
	t.Helper()
	return SchemaOn(t, DSN(t))
}

// SchemaOn is Schema on the server of dsn.
func SchemaOn(t testing.TB, dsn string) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "coffer_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), dsn); err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// SchemaName is the schema a DSN from Schema uses.
func SchemaName(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	return u.Query().Get("search_path")
}
