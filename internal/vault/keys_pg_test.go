package vault_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/pgtest"
	"github.com/cofferhq/coffer/internal/vault"
)

// TestRewrapOneNodeAtATime: two nodes on one PostgreSQL schema share a
// key file. While another session holds the re-wrap's job lock (a node in
// the middle of a re-wrap), a rotation through node B adds the version at
// once, but B's re-wrap waits for the lock: no key moves, B's status says
// "waiting" and A's says a re-wrap runs elsewhere. Once the lock is free,
// B re-wraps everything to the new version.
func TestRewrapOneNodeAtATime(t *testing.T) {
	a, b, dsn := twoNodes(t)
	const n = 5
	for i := range n {
		if _, err := a.v.Records.Create(ctx, a.admin, "customers", []coffer.NewRecord{{Subject: fmt.Sprintf("cus_l%d", i),
			Fields: raw(map[string]any{"email": fmt.Sprintf("l%d@example.com", i)})}}); err != nil {
			t.Fatal(err)
		}
	}

	unlock, ok, err := a.store.TryLock(ctx, "rewrap") // another node's re-wrap holds it
	if err != nil || !ok {
		t.Fatalf("take the re-wrap lock: %t, %v", ok, err)
	}
	defer unlock()
	if ver, err := b.v.Admin.RotateKeys(ctx, b.admin); err != nil || ver != 2 {
		t.Fatalf("rotate through B while the lock is held: %d, %v", ver, err)
	}
	waitForLockWaiter(t, dsn, b)
	st, err := b.v.Admin.KeyStatus(ctx, b.admin, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rewrap != "waiting" || !st.RewrapElsewhere {
		t.Errorf("B's status while the lock is held elsewhere: rewrap %q, elsewhere %t; want waiting, true", st.Rewrap, st.RewrapElsewhere)
	}
	if w := wrappedUnder(t, b.v, b.admin); w[1]["subject_deks"] != n || w[2]["subject_deks"] != 0 {
		t.Fatalf("wrapped while B waits for the lock = %v, want all %d under version 1", w, n)
	}
	if st, err := a.v.Admin.KeyStatus(ctx, a.admin, false); err != nil || st.Rewrap != "idle" || !st.RewrapElsewhere {
		t.Errorf("A's status: %+v, %v; want idle here, running elsewhere", st, err)
	}

	unlock()
	if err := b.v.WaitRewrap(ctx); err != nil {
		t.Fatal(err)
	}
	if w := wrappedUnder(t, b.v, b.admin); w[1]["subject_deks"] != 0 || w[2]["subject_deks"] != n {
		t.Fatalf("wrapped after B's re-wrap = %v, want all %d under version 2", w, n)
	}
	st, err = b.v.Admin.KeyStatus(ctx, b.admin, false)
	if err != nil || st.Rewrap != "done" || st.RewrapElsewhere {
		t.Errorf("B's status after: %+v, %v", st, err)
	}

	// Closing a node stops its wait for the lock.
	unlock, ok, err = a.store.TryLock(ctx, "rewrap")
	if err != nil || !ok {
		t.Fatalf("take the re-wrap lock again: %t, %v", ok, err)
	}
	defer unlock()
	if _, err := b.v.Admin.RotateKeys(ctx, b.admin); err != nil {
		t.Fatal(err)
	}
	waitForLockWaiter(t, dsn, b)
	b.v.Close() // returns: the wait is cancelled
	if err := b.v.WaitRewrap(ctx); err == nil {
		t.Error("a re-wrap stopped by Close while waiting for the lock reports no error")
	}
}

// waitForLockWaiter returns once a session waits for the re-wrap's
// advisory lock in the test's schema (node B's re-wrap, blocked), and
// fails if B's re-wrap ends first: it did not wait for the lock.
func waitForLockWaiter(t *testing.T, dsn string, b *pgNode) {
	t.Helper()
	waitForJobWaiter(t, dsn, "rewrap", func() string {
		st, err := b.v.Admin.KeyStatus(ctx, b.admin, false)
		if err != nil {
			t.Fatal(err)
		}
		return st.Rewrap
	})
}

// waitForJobWaiter returns once a session waits for job's advisory lock in
// the test's schema, and fails if state (the job's status on the node
// that should wait) says the job ended first.
func waitForJobWaiter(t *testing.T, dsn, job string, state func() string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	key := pgtest.SchemaName(dsn) + "/job/" + job
	for {
		var waiting bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0))`, key).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		if s := state(); s == "done" || s == "failed" {
			t.Fatalf("the %s job ended (%s) while another node held its lock: it did not wait", job, s)
		}
	}
}

// TestReindexOneNodeAtATime: the re-index after a rotation of the
// derived-key root takes its job lock on PostgreSQL. While another
// session holds it, the rotation through B succeeds and B's searches find
// every record (both versions asked), but no record moves; once free, B
// re-indexes everything and searches ask version 2 only.
func TestReindexOneNodeAtATime(t *testing.T) {
	a, b, dsn := twoNodes(t)
	const n = 20
	ids := createMany(t, a.v, a.admin, "p", n)
	unlock, ok, err := a.store.TryLock(ctx, "reindex")
	if err != nil || !ok {
		t.Fatalf("take the re-index lock: %t, %v", ok, err)
	}
	defer unlock()
	if ver, err := b.v.Admin.RotateDerived(ctx, b.admin, false); err != nil || ver != 2 {
		t.Fatalf("rotate the derived-key root through B: %d, %v", ver, err)
	}
	status := func() *vault.DerivedStatus {
		st, err := b.v.Admin.KeyStatus(ctx, b.admin, false)
		if err != nil {
			t.Fatal(err)
		}
		return st.Derived
	}
	waitForJobWaiter(t, dsn, "reindex", func() string { return status().Reindex })
	if d := status(); d.Reindex != "waiting" || !d.ReindexElsewhere || d.Versions[0].Records != n {
		t.Errorf("B's status while the lock is held elsewhere: %+v", d)
	}
	findOne(t, b.v, b.admin, "p3@example.com", ids[3])
	unlock()
	if err := b.v.WaitReindex(ctx); err != nil {
		t.Fatal(err)
	}
	if d := status(); d.Reindex != "done" || d.SearchFrom != 2 || d.Versions[0].Records != 0 || d.Versions[1].Records != n {
		t.Errorf("B's status after the re-index: %+v", d)
	}
	findOne(t, b.v, b.admin, "p7@example.com", ids[7])
}

var _ vault.KeySource = (*keyring.File)(nil)
