package vault_test

import (
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// TestNodesLearnKeyChanges: two nodes share one PostgreSQL schema and one
// key file. A rotation of the derived-key root through node A is seen by
// node B without a restart (SPEC §7: a key change on one node is seen by
// every other): B then indexes and checks the erasure ledger under the new
// version, so an id A erased under it is refused on B as well (it was
// accepted, fail open, while B knew version 1 only), and B's search finds
// what A stored under the new version.
func TestNodesLearnKeyChanges(t *testing.T) {
	a, b, _ := twoNodes(t)
	createMany(t, a.v, a.admin, "kn", 2)

	if ver, err := a.v.Admin.RotateDerived(ctx, a.admin, false); err != nil || ver != 2 {
		t.Fatalf("rotate the derived-key root through A = %d, %v", ver, err)
	}
	if err := a.v.WaitReindex(ctx); err != nil {
		t.Fatal(err)
	}
	// B learns of it by a notice, not by a restart: wait for that.
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for derivedCurrent(t, b) != 2 {
		select {
		case <-deadline:
			t.Fatal("node B never learnt of derived-key root version 2")
		case <-tick.C:
		}
	}

	erase(t, a.v, a.admin, "cus_kn0") // hashed under version 2 by A
	if _, err := b.v.Records.Create(ctx, b.admin, "customers", []coffer.NewRecord{{Subject: "cus_kn0",
		Fields: raw(map[string]any{"email": "again@example.com", "name": "Again"})}}); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("B created a record for an id A erased under version 2: %v, want conflict", err)
	}
	createMany(t, a.v, a.admin, "knafter", 1)
	recs, err := b.v.Records.Search(ctx, b.admin, "customers", raw(map[string]any{"email": "knafter0@example.com"}), 10)
	if err != nil || len(recs) != 1 {
		t.Errorf("B's search for a record A indexed under version 2: %d records, %v", len(recs), err)
	}
	recs, err = b.v.Records.Search(ctx, b.admin, "customers", raw(map[string]any{"email": "kn1@example.com"}), 10)
	if err != nil || len(recs) != 1 {
		t.Errorf("B's search for a record re-indexed under version 2: %d records, %v", len(recs), err)
	}
}

// derivedCurrent is the derived-key root version node n indexes under.
func derivedCurrent(t *testing.T, n *pgNode) uint32 {
	t.Helper()
	st, err := n.v.Admin.KeyStatus(ctx, n.admin, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range st.Derived.Versions {
		if v.Current {
			return v.Version
		}
	}
	return 0
}
