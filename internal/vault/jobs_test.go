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
