package vault_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/vault"
)

// lockedStore is a store that nodes share (coffer.JobLocker) whose job
// locks another node may hold.
type lockedStore struct {
	*sqlite.Store
	held  atomic.Bool // another node holds every job lock
	taken atomic.Int64
}

func (s *lockedStore) TryLock(ctx context.Context, job string) (func(), bool, error) {
	if s.held.Load() {
		return func() {}, false, nil
	}
	s.taken.Add(1)
	return func() {}, true, nil
}

// TestPurgeRunsUnderTheJobLock: while another node holds the purge job's
// lock, this node leaves a pending purge alone; once free, the next start
// of the job (a retention sweep) runs it under the lock.
func TestPurgeRunsUnderTheJobLock(t *testing.T) {
	f := newFixture(t)
	if err := f.v.Admin.WaitPurges(ctx); err != nil {
		t.Fatal(err)
	}
	ls := &lockedStore{Store: f.store}
	ls.held.Store(true)
	v, err := vault.New(ctx, vault.Options{Store: ls, Keys: f.keys, Schema: examples.Shop})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	admin := &vault.Call{Actor: f.admin.Actor, Purpose: "account"}
	if _, err := v.Admin.PutSchema(ctx, admin, withNotes, false); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Records.Create(ctx, admin, "notes", []coffer.NewRecord{{Subject: "cus_j", Fields: raw(map[string]any{"text": "a note"})}}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Admin.PutSchema(ctx, admin, examples.Shop, true); err != nil {
		t.Fatal(err)
	}
	if err := v.Admin.WaitPurges(ctx); err != nil {
		t.Fatal(err)
	}
	if ps, err := ls.Purges(ctx); err != nil || len(ps) != 1 {
		t.Fatalf("with the lock held elsewhere: %d purges pending (%v), want the one left to the other node", len(ps), err)
	}
	ls.held.Store(false)
	if _, err := v.Privacy.Sweep(ctx, true); err != nil { // starts the purge job again
		t.Fatal(err)
	}
	if err := v.Admin.WaitPurges(ctx); err != nil {
		t.Fatal(err)
	}
	if ps, err := ls.Purges(ctx); err != nil || len(ps) != 0 || ls.taken.Load() == 0 {
		t.Errorf("with the lock free: %d purges pending (%v), lock taken %d times", len(ps), err, ls.taken.Load())
	}
}

// staleStore answers one read of a subject from before its erasure: a
// node that read the subject just before another node erased it.
type staleStore struct {
	*sqlite.Store
	stale atomic.Pointer[coffer.Subject]
}

func (s *staleStore) Subject(ctx context.Context, id string) (*coffer.Subject, error) {
	if sub := s.stale.Swap(nil); sub != nil && sub.ID == id {
		return sub, nil
	}
	return s.Store.Subject(ctx, id)
}

// TestCreateForASubjectErasedMeanwhile: a node that still sees (and holds
// the key of) a subject erased elsewhere is refused by the store at the
// commit; it forgets the key, reads again and answers what the erasure
// ledger says (409: an erased id is not reused). Nothing is orphaned.
func TestCreateForASubjectErasedMeanwhile(t *testing.T) {
	f := newFixture(t)
	f.create(t, "cus_s", map[string]any{"email": "stale@example.com"})
	sub, err := f.store.Subject(ctx, "cus_s")
	if err != nil {
		t.Fatal(err)
	}
	ss := &staleStore{Store: f.store}
	v2, err := vault.New(ctx, vault.Options{Store: ss, Keys: f.keys, Schema: examples.Shop})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	admin := &vault.Call{Actor: f.admin.Actor, Purpose: "account"}
	r, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: "cus_s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"verify", "complete"} {
		if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: a}); err != nil {
			t.Fatal(a, err)
		}
	}
	ss.stale.Store(sub)
	_, err = v2.Records.Create(ctx, admin, "customers", []coffer.NewRecord{{Subject: "cus_s", Fields: raw(map[string]any{"email": "again@example.com"})}})
	if coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("create for a subject erased meanwhile: %v, want conflict (erasure ledger)", err)
	}
	if ss.stale.Load() != nil {
		t.Fatal("the stale read was never made (the test proves nothing)")
	}
	if recs, err := f.store.SubjectRecords(ctx, "cus_s"); err != nil || len(recs) != 0 {
		t.Errorf("%d records orphaned under the erased subject (%v)", len(recs), err)
	}
	if vault.CachedDEK(v2, "cus_s") {
		t.Error("the node still caches the erased subject's DEK")
	}
}
