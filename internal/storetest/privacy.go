package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cofferhq/coffer"
)

func testConsents(t *testing.T, s coffer.Store) {
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_c")}}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	evs := []*coffer.ConsentEvent{
		{Subject: "cus_c", Purpose: "marketing", Granted: true, Time: at, Source: "signup", NoticeVersion: "v1"},
		{Subject: "cus_c", Purpose: "analytics", Granted: true, Time: at, Source: "signup", NoticeVersion: "v1"},
	}
	if err := s.Commit(ctx, &coffer.Change{Consents: evs, Audit: []*coffer.AuditEntry{entry("consent.grant", "")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, &coffer.Change{Consents: []*coffer.ConsentEvent{{Subject: "cus_c", Purpose: "marketing", Time: at.Add(time.Hour), Source: "gpc"}}}); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subject(ctx, "cus_c")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"marketing": false, "analytics": true}, sub.Consents); diff != "" {
		t.Errorf("current consents (-want +got):\n%s", diff)
	}
	hist, err := s.Consents(ctx, "cus_c")
	if err != nil || len(hist) != 3 {
		t.Fatalf("history: %v, %d events", err, len(hist))
	}
	if hist[2].Purpose != "marketing" || hist[2].Granted || hist[2].Source != "gpc" || !hist[2].Time.Equal(at.Add(time.Hour)) || hist[0].Seq >= hist[2].Seq {
		t.Errorf("history order or content: %+v", hist[2])
	}
	err = s.Commit(ctx, &coffer.Change{Consents: []*coffer.ConsentEvent{{Subject: "cus_nobody", Purpose: "marketing", Time: at}}})
	if coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("consent for an unknown subject: %v", err)
	}
	if err := s.Commit(ctx, &coffer.Change{Restrictions: []coffer.Restriction{{Subject: "cus_c", Restricted: true}}}); err != nil {
		t.Fatal(err)
	}
	if sub := must(s.Subject(ctx, "cus_c"))(t); !sub.Restricted {
		t.Error("restriction not stored")
	}
	err = s.Commit(ctx, &coffer.Change{Restrictions: []coffer.Restriction{{Subject: "cus_nobody", Restricted: true}}})
	if coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("restriction of an unknown subject: %v", err)
	}
}

func testErasure(t *testing.T, s coffer.Store) {
	r1, r2 := record("rec_e1", "cus_e"), record("rec_e2", "cus_e")
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_e")}, Creates: []*coffer.StoredRecord{r1, r2},
		Consents: []*coffer.ConsentEvent{{Subject: "cus_e", Purpose: "marketing", Granted: true, Time: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.SubjectRecords(ctx, "cus_e")
	if err != nil || len(got) != 2 {
		t.Fatalf("SubjectRecords: %v %d", err, len(got))
	}
	hash := []byte("ledger-hash-of-cus_e-0123456789ab")
	// Erasing while a record is not in the change: refused, nothing gone.
	err = s.Commit(ctx, &coffer.Change{Deletes: []coffer.RecordRef{{Collection: "customers", ID: "rec_e1"}},
		Erasures: []coffer.Erasure{{Subject: "cus_e", LedgerHash: hash, LedgerVersion: 2}}, At: time.Now(), Audit: []*coffer.AuditEntry{entry("subject.erase", "")}})
	if coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("erasure with a record left: %v", err)
	}
	if _, err := s.Record(ctx, "customers", "rec_e1"); err != nil {
		t.Fatalf("a refused erasure deleted a record: %v", err)
	}
	if e := lastAudit(t, s); e.Action != "subject.erase" || e.Outcome != coffer.OutcomeError {
		t.Errorf("refused erasure audited as %s/%s", e.Action, e.Outcome)
	}
	both := []coffer.RecordRef{{Collection: "customers", ID: "rec_e1"}, {Collection: "customers", ID: "rec_e2"}}
	// An erasure that names no derived version for its hash: refused.
	err = s.Commit(ctx, &coffer.Change{Deletes: both, Erasures: []coffer.Erasure{{Subject: "cus_e", LedgerHash: hash}}, At: time.Now()})
	if coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("erasure without a ledger version: %v", err)
	}
	err = s.Commit(ctx, &coffer.Change{Deletes: both,
		Erasures: []coffer.Erasure{{Subject: "cus_e", LedgerHash: hash, LedgerVersion: 2}}, At: time.Now(), Audit: []*coffer.AuditEntry{entry("subject.erase", "")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subject(ctx, "cus_e"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("subject (its DEK) still there: %v", err)
	}
	if got := must(s.SubjectRecords(ctx, "cus_e"))(t); len(got) != 0 {
		t.Errorf("%d records left", len(got))
	}
	if found := must(find(s, "email", r1.Index[0].Hash, 10))(t); len(found) != 0 {
		t.Error("blind index still finds an erased record")
	}
	if hist := must(s.Consents(ctx, "cus_e"))(t); len(hist) != 0 {
		t.Error("consent history of an erased subject remains")
	}
	if ok, err := s.Erased(ctx, hash); err != nil || !ok {
		t.Errorf("ledger: %v %v", ok, err)
	}
	if ok := must(s.Erased(ctx, []byte("another")))(t); ok {
		t.Error("ledger holds a hash never erased")
	}
	// A check asks the subject's hash under every derived version at once.
	if ok := must(s.Erased(ctx, []byte("another"), hash, []byte("a third")))(t); !ok {
		t.Error("the ledger hash among others is not found")
	}
	if ok := must(s.Erased(ctx, []byte("another"), []byte("a third")))(t); ok {
		t.Error("ledger holds one of two hashes never erased")
	}
	if ok := must(s.Erased(ctx))(t); ok {
		t.Error("no hash at all is in the ledger")
	}
	// The entry keeps the version it was hashed under.
	want := []coffer.LedgerEntry{{Hash: hash, Version: 2}}
	if diff := cmp.Diff(want, must(s.ErasureLedger(ctx))(t), cmpopts.IgnoreFields(coffer.LedgerEntry{}, "ErasedAt")); diff != "" {
		t.Errorf("erasure ledger (-want +got):\n%s", diff)
	}
}

func testRequests(t *testing.T, s coffer.Store) {
	at := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	r := &coffer.Request{ID: "req_1", Kind: "erasure", Regime: "gdpr", Subject: "cus_r", Status: "unverified", ReceivedAt: at,
		DueAt: at.AddDate(0, 1, 0), Checklist: []string{"CRM"}, UpdatedAt: at, Version: 1}
	if err := s.Commit(ctx, &coffer.Change{NewRequests: []*coffer.Request{r}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, &coffer.Change{NewRequests: []*coffer.Request{r}}); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("duplicate request id: %v", err)
	}
	got, err := s.Request(ctx, "req_1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("request round trip (-want +got):\n%s", diff)
	}
	upd := *got
	upd.Status, upd.Extended, upd.ExtensionReason = "open", true, "complex"
	if err := s.Commit(ctx, &coffer.Change{RequestUpdates: []*coffer.Request{&upd}}); err != nil {
		t.Fatal(err)
	}
	stale := *got
	stale.Status = "denied"
	if err := s.Commit(ctx, &coffer.Change{RequestUpdates: []*coffer.Request{&stale}}); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("stale update: %v", err)
	}
	gone := upd
	gone.ID = "req_gone"
	if err := s.Commit(ctx, &coffer.Change{RequestUpdates: []*coffer.Request{&gone}}); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("update of a missing request: %v", err)
	}
	if got = must(s.Request(ctx, "req_1"))(t); got.Status != "open" || got.Version != 2 || !got.Extended {
		t.Errorf("after update: %+v", got)
	}
	r2 := &coffer.Request{ID: "req_2", Kind: "access", Regime: "ccpa", Subject: "cus_s", Status: "unverified", ReceivedAt: at.Add(time.Hour), Version: 1}
	if err := s.Commit(ctx, &coffer.Change{NewRequests: []*coffer.Request{r2}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    coffer.RequestFilter
		want []string
	}{
		{coffer.RequestFilter{}, []string{"req_2", "req_1"}},
		{coffer.RequestFilter{Status: "open"}, []string{"req_1"}},
		{coffer.RequestFilter{Subject: "cus_s"}, []string{"req_2"}},
		{coffer.RequestFilter{Limit: 1}, []string{"req_2"}},
		{coffer.RequestFilter{FinishedBefore: time.Now()}, nil},
	} {
		rs, err := s.Requests(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		if !cmp.Equal(ids, c.want) {
			t.Errorf("Requests(%+v) = %v, want %v", c.f, ids, c.want)
		}
	}
	done := *r2
	done.Status, done.CompletedAt = "completed", &at
	if err := s.Commit(ctx, &coffer.Change{RequestUpdates: []*coffer.Request{&done}}); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Requests(ctx, coffer.RequestFilter{FinishedBefore: at.Add(time.Second)})
	if err != nil || len(rs) != 1 || rs[0].ID != "req_2" {
		t.Fatalf("finished before: %v %d", err, len(rs))
	}
	if err := s.Commit(ctx, &coffer.Change{RequestDeletes: []string{"req_2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Request(ctx, "req_2"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("deleted request: %v", err)
	}
}

func testExpired(t *testing.T, s coffer.Store) {
	old, recent := record("rec_x1", "cus_x"), record("rec_x2", "cus_x")
	old.UpdatedAt = time.Now().Add(-48 * time.Hour)
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_x")}, Creates: []*coffer.StoredRecord{old, recent}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ExpiredRecords(ctx, "customers", time.Now().Add(-24*time.Hour), time.Time{}, "", 10)
	if err != nil || len(got) != 1 || got[0].ID != "rec_x1" {
		t.Fatalf("ExpiredRecords = %v %v", ids(got), err)
	}
	if got := must(s.ExpiredRecords(ctx, "orders", time.Now(), time.Time{}, "", 10))(t); len(got) != 0 {
		t.Errorf("other collection: %v", ids(got))
	}
	// Paging: the cursor of the first page's last record starts the next.
	all := must(s.ExpiredRecords(ctx, "customers", time.Now().Add(time.Hour), time.Time{}, "", 10))(t)
	first := must(s.ExpiredRecords(ctx, "customers", time.Now().Add(time.Hour), time.Time{}, "", 1))(t)
	rest := must(s.ExpiredRecords(ctx, "customers", time.Now().Add(time.Hour), first[0].UpdatedAt, first[0].ID, 10))(t)
	if len(all) < 2 || !cmp.Equal(ids(all), append(ids(first), ids(rest)...)) {
		t.Errorf("paging: all %v, first %v, rest %v", ids(all), ids(first), ids(rest))
	}
}
