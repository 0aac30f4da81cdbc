package vault_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// reindexGate holds the first Reindex until released, so a test can act
// while a re-index is under way and no record has moved yet.
type reindexGate struct {
	coffer.Store
	entered chan struct{}
	release chan struct{}
	first   atomic.Bool
}

func (g *reindexGate) Reindex(ctx context.Context, rs []coffer.Reindex, e *coffer.AuditEntry) (int, error) {
	if g.first.CompareAndSwap(false, true) {
		close(g.entered)
		<-g.release
	}
	return g.Store.Reindex(ctx, rs, e)
}

// createMany creates n customers with emails prefix<i>@example.com, 100
// per call, and returns their record ids.
func createMany(t *testing.T, v *vault.Vault, c *vault.Call, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i += 100 {
		var recs []coffer.NewRecord
		for j := i; j < min(i+100, n); j++ {
			recs = append(recs, coffer.NewRecord{Subject: fmt.Sprintf("cus_%s%d", prefix, j),
				Fields: raw(map[string]any{"email": fmt.Sprintf("%s%d@example.com", prefix, j), "name": "D"})})
		}
		out, err := v.Records.Create(ctx, c, "customers", recs)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// findOne searches customers by email and fails unless exactly id is found.
func findOne(t *testing.T, v *vault.Vault, c *vault.Call, email, id string) {
	found, err := v.Records.Search(ctx, c, "customers", raw(map[string]any{"email": email}), 10)
	if err != nil {
		t.Errorf("search: %v", err)
		return
	}
	if len(found) != 1 || found[0].ID != id {
		t.Errorf("search for one record found %d", len(found))
	}
}

// TestRotateDerivedWhileSearching: a rotation of the derived-key root on a
// live vault. The new version is current at once (records created then
// are indexed under it); while no record has moved yet, and then while
// the background job re-indexes page after page, concurrent searches find
// every record, old and new, exactly once; updates during the job land
// under the new version. When the job is done every record is indexed
// under version 2 and searches ask version 2 only, also after a restart.
func TestRotateDerivedWhileSearching(t *testing.T) {
	f := newFixture(t)
	const n = 1200 // three pages
	ids := createMany(t, f.v, f.admin, "d", n)
	gate := &reindexGate{Store: f.store, entered: make(chan struct{}), release: make(chan struct{})}
	live, admin := f.node(t, gate)

	ver, err := live.Admin.RotateDerived(ctx, admin, false)
	if err != nil || ver != 2 {
		t.Fatalf("rotate the derived-key root = %d, %v", ver, err)
	}
	<-gate.entered // the first page is computed, nothing moved
	st, err := live.Admin.KeyStatus(ctx, admin, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.Derived; d.Reindex != "running" || d.SearchFrom != 1 || len(d.Versions) != 2 || d.Versions[0].Records != n || !d.Versions[1].Current {
		t.Errorf("status while the re-index waits: %+v", d)
	}
	newIDs := createMany(t, live, admin, "e", 10) // under version 2
	for i := 0; i < n; i += 97 {
		findOne(t, live, admin, fmt.Sprintf("d%d@example.com", i), ids[i])
	}
	for i, id := range newIDs {
		findOne(t, live, admin, fmt.Sprintf("e%d@example.com", i), id)
	}
	if _, err := live.Admin.RotateDerived(ctx, admin, false); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("a second derived rotation during the re-index: %v, want conflict", err)
	}

	// Searches and updates while the pages commit.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var searches atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			for i := w; ; i = (i + 131) % n {
				select {
				case <-stop:
					return
				default:
				}
				findOne(t, live, admin, fmt.Sprintf("d%d@example.com", i), ids[i])
				searches.Add(1)
			}
		})
	}
	close(gate.release)
	for i := 1; i < n; i += 400 { // an update moves its record to version 2 ahead of the job
		if _, err := live.Records.Update(ctx, admin, "customers", ids[i], raw(map[string]any{"name": "U"})); err != nil {
			t.Errorf("update during the re-index: %v", err)
		}
	}
	if err := live.WaitReindex(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if searches.Load() == 0 {
		t.Error("no search ran during the re-index")
	}

	st, err = live.Admin.KeyStatus(ctx, admin, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.Derived; d.Reindex != "done" || d.SearchFrom != 2 || d.Versions[0].Records != 0 || d.Versions[1].Records != n+10 {
		t.Fatalf("status after the re-index: %+v", d)
	}
	for i := 0; i < n; i += 89 {
		findOne(t, live, admin, fmt.Sprintf("d%d@example.com", i), ids[i])
	}
	// A restart (another vault over the store) asks version 2 only, and has nothing to re-index.
	fresh, freshAdmin := f.node(t, f.store)
	if err := fresh.WaitReindex(ctx); err != nil {
		t.Fatal(err)
	}
	findOne(t, fresh, freshAdmin, "d5@example.com", ids[5])
	if st, err := fresh.Admin.KeyStatus(ctx, freshAdmin, false); err != nil || st.Derived.SearchFrom != 2 || st.Derived.Reindex != "idle" {
		t.Errorf("a restarted vault: %+v, %v", st.Derived, err)
	}
}
