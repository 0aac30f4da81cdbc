package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/postgres"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

// rawTx runs sqlstore's statements in a transaction the test controls:
// another node's writer, paused before its commit.
type rawTx struct{ tx pgx.Tx }

func (t rawTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, sqlstore.Postgres.SQL(q), args...)
	return tag.RowsAffected(), err
}

func (t rawTx) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return t.tx.QueryRow(ctx, sqlstore.Postgres.SQL(q), args...)
}

func openDSN(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testRecord(id, subject string) *coffer.StoredRecord {
	now := time.Now().UTC()
	return &coffer.StoredRecord{ID: id, Collection: "customers", Subject: subject,
		Fields: map[string][]byte{"email": []byte("ct-" + id)}, CreatedAt: now, UpdatedAt: now}
}

// TestErasureWaitsForACreateOnAnotherNode: node B's create for a subject
// is in flight (its transaction has checked the subject, not committed)
// when node A erases the subject. A's erasure waits for B's commit, then
// sees B's record and fails (conflict: retry), so B's acknowledged record
// is never orphaned under an erased key.
func TestErasureWaitsForACreateOnAnotherNode(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	a := openDSN(t, dsn)
	if err := a.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{{ID: "cus_r", WrappedDEK: []byte("w"), KEKVersion: 1, CreatedAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := sqlstore.ApplyChange(ctx, rawTx{tx}, &coffer.Change{Creates: []*coffer.StoredRecord{testRecord("rec_b", "cus_r")}}); err != nil {
		t.Fatal(err)
	}
	erased := make(chan error, 1)
	go func() {
		erased <- a.Commit(ctx, &coffer.Change{Erasures: []coffer.Erasure{{Subject: "cus_r", LedgerHash: []byte("h"), LedgerVersion: 1}}, At: time.Now()})
	}()
	// A's erasure must be waiting for B's lock before B commits.
	var pid uint32
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting bool
		if err := watch.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid)))`, pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-erased:
			t.Fatalf("the erasure did not wait for the create in flight on another node: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the erasure never waited for the create")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-erased; coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("erasure racing a create: %v, want conflict", err)
	}
	recs, err := a.SubjectRecords(ctx, "cus_r")
	if err != nil || len(recs) != 1 {
		t.Fatalf("records of the subject: %d %v", len(recs), err)
	}
	if _, err := a.Subject(ctx, "cus_r"); err != nil {
		t.Errorf("the subject of an acknowledged record is gone (orphaned): %v", err)
	}
}

// TestJobLock: a background job's lock is held by one node at a time,
// per job and per schema, and released by unlock.
func TestJobLock(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	other := openDSN(t, freshSchema(t))
	unlock, ok, err := a.TryLock(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if _, ok, err := b.TryLock(ctx, "retention"); err != nil || ok {
		t.Errorf("a second node took a held job lock: %v %v", ok, err)
	}
	if u, ok, err := b.TryLock(ctx, "purge"); err != nil || !ok {
		t.Errorf("another job's lock: %v %v", ok, err)
	} else {
		u()
	}
	if u, ok, err := other.TryLock(ctx, "retention"); err != nil || !ok {
		t.Errorf("the same job in another schema: %v %v", ok, err)
	} else {
		u()
	}
	unlock()
	u, ok, err := b.TryLock(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("after unlock: %v %v", ok, err)
	}
	u()
}

// TestListenerReconnects: when the LISTEN connection is cut, the node
// reports "drop everything" (notices may be missed) when it notices and
// again once it listens again, and notices reach it afterwards.
func TestListenerReconnects(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	s := openDSN(t, dsn)
	got := make(chan string, 64)
	s.WatchSubjects(func(id string) {
		select {
		case got <- id:
		default:
		}
	})
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'coffer-listener'`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("no listener to cut: %d %v", n, err)
	}
	next := func(want string) {
		t.Helper()
		for {
			select {
			case id := <-got:
				if id == want {
					return
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("never reported %q", want)
			}
		}
	}
	next("")
	next("")
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{{ID: "cus_z", WrappedDEK: []byte("w"), KEKVersion: 1, CreatedAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, &coffer.Change{Erasures: []coffer.Erasure{{Subject: "cus_z", LedgerHash: []byte("hz"), LedgerVersion: 1}}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	next("cus_z")
}
