package vault_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// TestRetentionSweeper runs the background sweeper in a synctest bubble:
// two years on, the birthdate (retention 730d) is gone from the record and
// its removal audited; three years on, the record (collection retention
// 1095d) is gone. A dry run reports without deleting.
func TestRetentionSweeper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		rec := f.create(t, "cus_old", map[string]any{"email": "old@example.com", "birthdate": "1970-01-01"})
		fresh := f.create(t, "cus_new", map[string]any{"email": "new@example.com", "birthdate": "1990-01-01"})
		sctx, stop := context.WithCancel(context.Background())
		defer stop()
		go f.v.Privacy.RunRetention(sctx, 24*time.Hour)

		time.Sleep(729 * 24 * time.Hour)
		synctest.Wait()
		if got, err := f.v.Records.Get(ctx, f.admin, "customers", rec.ID); err != nil || got.Fields["birthdate"] == nil {
			t.Fatalf("day 729: %v %+v", err, got)
		}
		// Keep one record young: an update restarts its clocks.
		if _, err := f.v.Records.Update(ctx, f.admin, "customers", fresh.ID, raw(map[string]any{"email": "new2@example.com"})); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * 24 * time.Hour)
		synctest.Wait()
		got, err := f.v.Records.Get(ctx, f.admin, "customers", rec.ID)
		if err != nil || got.Fields["birthdate"] != nil || string(got.Fields["email"]) != `"old@example.com"` {
			t.Fatalf("day 731: %v %+v", err, got)
		}
		if got, _ := f.v.Records.Get(ctx, f.admin, "customers", fresh.ID); got.Fields["birthdate"] == nil {
			t.Fatal("the updated record lost its birthdate")
		}
		es, _ := f.store.Audit(ctx, coffer.AuditFilter{Actor: "system:retention"})
		if len(es) != 1 || es[0].Action != "retention.erase_field" || es[0].Record != rec.ID || es[0].Fields[0] != "birthdate" {
			t.Fatalf("sweeper audit: %+v", es)
		}

		rep, err := f.v.Privacy.SweepAs(ctx, f.admin, true)
		if err != nil || rep.Records["customers"] != 0 {
			t.Fatalf("dry run at day 731: %v %+v", err, rep)
		}
		// Day 1095.5, between two sweeps: the untouched record's collection
		// retention (1095d) has just ended.
		time.Sleep(365*24*time.Hour - 12*time.Hour)
		synctest.Wait()
		rep, err = f.v.Privacy.SweepAs(ctx, f.admin, true)
		if err != nil || rep.Records["customers"] != 1 || !rep.DryRun {
			t.Fatalf("dry run at day 1095.5: %v %+v", err, rep)
		}
		// Retention holds at read time (the record reads as gone), but the
		// dry run left the stored row.
		if _, err := f.v.Records.Get(ctx, f.admin, "customers", rec.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Fatalf("day 1095.5, past retention: %v", err)
		}
		if _, err := f.store.Record(ctx, "customers", rec.ID); err != nil {
			t.Fatalf("a dry run deleted: %v", err)
		}
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		if _, err := f.v.Records.Get(ctx, f.admin, "customers", rec.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Fatalf("day 1096.5: %v", err)
		}
		es, _ = f.store.Audit(ctx, coffer.AuditFilter{Actor: "system:retention", Desc: true, Limit: 1})
		if es[0].Action != "retention.delete" || es[0].Record != rec.ID || es[0].Reason != "collection retention 1095d" {
			t.Fatalf("deletion audit: %+v", es[0])
		}
		if _, err := f.v.Records.Get(ctx, f.admin, "customers", fresh.ID); err != nil {
			t.Fatalf("the younger record went too: %v", err)
		}
		stop()
		synctest.Wait()
	})
}

// TestSweepDryRunMatchesRun: a dry run reports what a run does — a record
// the collection rule deletes is not also counted for its field's rule.
func TestSweepDryRunMatchesRun(t *testing.T) {
	f := newFixture(t)
	f.create(t, "cus_a", map[string]any{"email": "a@example.com", "birthdate": "1970-01-01"})
	f.advance(800 * 24 * time.Hour)
	f.create(t, "cus_b", map[string]any{"email": "b@example.com", "birthdate": "1980-01-01"})
	f.advance(300 * 24 * time.Hour) // a: 1100 days (record expired); b: 300 days (nothing)
	dry, err := f.v.Privacy.Sweep(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	run, err := f.v.Privacy.Sweep(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if dry.Records["customers"] != 1 || dry.Values["customers.birthdate"] != 0 || run.Records["customers"] != dry.Records["customers"] || run.Values["customers.birthdate"] != dry.Values["customers.birthdate"] {
		t.Fatalf("dry run %+v, run %+v", dry, run)
	}
}

// racingStore deletes one record of the first multi-record change behind
// the caller's back, as a concurrent request would.
type racingStore struct {
	coffer.Store
	raced bool
}

func (s *racingStore) Commit(ctx context.Context, ch *coffer.Change) error {
	if !s.raced && len(ch.Deletes) > 1 {
		s.raced = true
		if err := s.Store.Commit(ctx, &coffer.Change{Deletes: ch.Deletes[:1]}); err != nil {
			return err
		}
	}
	return s.Store.Commit(ctx, ch)
}

// TestSweepSurvivesAConcurrentDelete: when a record of a page goes away
// during the sweep, the rest of the page is still deleted and audited.
func TestSweepSurvivesAConcurrentDelete(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.create(t, "", map[string]any{"email": fmt.Sprintf("r%d@example.com", i)})
	}
	rs := &racingStore{Store: f.store}
	v2, err := vault.New(ctx, vault.Options{Store: rs, Keys: f.keys, Now: func() time.Time { return time.Now().Add(1100 * 24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := v2.Privacy.Sweep(ctx, false)
	if err != nil || !rs.raced || rep.Records["customers"] != 4 {
		t.Fatalf("sweep: %v raced=%v %+v", err, rs.raced, rep)
	}
	left, _ := f.store.ExpiredRecords(ctx, "customers", time.Now().Add(time.Hour), time.Time{}, "", 10)
	if len(left) != 0 {
		t.Errorf("%d records left", len(left))
	}
	es, _ := f.store.Audit(ctx, coffer.AuditFilter{Actor: "system:retention", Limit: 100})
	allowed := 0
	for _, e := range es {
		if e.Action == "retention.delete" && e.Outcome == coffer.OutcomeAllowed {
			allowed++
		}
	}
	if allowed != 4 {
		t.Errorf("%d deletions audited as allowed, want 4", allowed)
	}
}
