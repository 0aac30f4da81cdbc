package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/postgres"
	"github.com/cofferhq/coffer/internal/storetest"
)

// open gives each test its own PostgreSQL schema, dropped on cleanup.
func open(t *testing.T) coffer.Store {
	dsn := os.Getenv("COFFER_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("COFFER_TEST_POSTGRES is not set (a PostgreSQL DSN); .ci/run sets it when a server answers")
	}
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
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
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
	signer, _ := audit.NewSigner(coffer.NewSecret(make([]byte, 32)))
	s, err := postgres.Open(ctx, u.String(), signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
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
	if n, err := audit.Verify(s.AuditLog(ctx), head, signer.PublicKey()); err != nil || n != 5 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}
