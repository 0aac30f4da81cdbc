package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/canary"
	"github.com/cofferhq/coffer/internal/sqlite"
)

// inFiles reports whether any file of the database holds b.
func inFiles(t *testing.T, path string, b []byte) []string {
	t.Helper()
	var where []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		data, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			where = append(where, filepath.Base(p))
		}
	}
	return where
}

// TestErasureFinalityIsBounded: while a reader holds a snapshot older than
// the erasure (its pages may still be read), the truncating checkpoint
// cannot complete. The erasure then commits but is answered EUNAVAILABLE
// within FinalWait, not acknowledged; once the reader ends, the next
// commit completes the checkpoint and the subject's bytes are gone.
func TestErasureFinalityIsBounded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "coffer.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{Signer: signer(t), FinalWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dek, field := []byte(canary.New("bounded-dek")), []byte(canary.New("bounded-field"))
	now := time.Now()
	rec := &coffer.StoredRecord{ID: "rec_1", Collection: "customers", Subject: "cus_gone", Fields: map[string][]byte{"email": field},
		CreatedAt: now, UpdatedAt: now}
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{{ID: "cus_gone", WrappedDEK: dek, KEKVersion: 1, CreatedAt: now}},
		Creates: []*coffer.StoredRecord{rec}}); err != nil {
		t.Fatal(err)
	}

	// A reader of its own (like another process) pins the current snapshot.
	rdb, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	conn, err := rdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM records").Scan(&n); err != nil || n != 1 {
		t.Fatal(n, err)
	}

	start := time.Now()
	err = s.Commit(ctx, &coffer.Change{Deletes: []coffer.RecordRef{{Collection: "customers", ID: "rec_1"}},
		Erasures: []coffer.Erasure{{Subject: "cus_gone", LedgerHash: []byte("ledger-hash-of-cus_gone-000000000"), LedgerVersion: 1}}, At: now})
	if coffer.ErrorCode(err) != coffer.EUNAVAILABLE {
		t.Fatalf("erasure under a pinned snapshot: %v, want %s", err, coffer.EUNAVAILABLE)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the erasure waited %v, bound 50ms", d)
	}
	if _, err := s.Subject(ctx, "cus_gone"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("the erasure did not commit: %v", err)
	}
	if where := inFiles(t, path, dek); len(where) == 0 {
		t.Error("the pinned snapshot's pages are gone: the test shows nothing")
	}

	// The reader ends; the next write (any) completes the checkpoint.
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	before := s.Stats().Truncates
	if err := s.AppendAudit(ctx, &coffer.AuditEntry{Actor: "a", Action: "next", Outcome: coffer.OutcomeAllowed}); err != nil {
		t.Fatal(err)
	}
	if s.Stats().Truncates == before {
		t.Error("the next commit did not retry the checkpoint")
	}
	for what, b := range map[string][]byte{"wrapped DEK": dek, "ciphertext": field} {
		if where := inFiles(t, path, b); len(where) != 0 {
			t.Errorf("the %s is still in %v", what, where)
		}
	}
	// Once final, ordinary commits no longer checkpoint.
	before = s.Stats().Truncates
	if err := s.AppendAudit(ctx, &coffer.AuditEntry{Actor: "a", Action: "after", Outcome: coffer.OutcomeAllowed}); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Truncates; got != before {
		t.Errorf("%d checkpoints after the erasure was final", got-before)
	}
}
