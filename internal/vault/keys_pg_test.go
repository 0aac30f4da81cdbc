package vault_test

import (
	"fmt"
	"path/filepath"
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
	dsn := pgtest.Schema(t)
	kf := filepath.Join(t.TempDir(), "keys.json")
	if err := keyring.CreateFile(kf); err != nil {
		t.Fatal(err)
	}
	src := &keyring.File{Path: kf}
	keys, err := src.Keys()
	if err != nil {
		t.Fatal(err)
	}
	a, token := openNodeWith(t, dsn, keys, "", src)
	b, _ := openNodeWith(t, dsn, keys, token, src)
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
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	key := pgtest.SchemaName(dsn) + "/job/rewrap"
	for {
		var waiting bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0))`, key).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		st, err := b.v.Admin.KeyStatus(ctx, b.admin, false)
		if err != nil {
			t.Fatal(err)
		}
		if st.Rewrap == "done" || st.Rewrap == "failed" {
			t.Fatalf("B's re-wrap ended (%s) while another node held the lock: it did not wait", st.Rewrap)
		}
	}
}

var _ vault.KeySource = (*keyring.File)(nil)
