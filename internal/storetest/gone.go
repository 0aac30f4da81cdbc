package storetest

import (
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// testGoneSubject: a write naming a subject whose row is gone (erased,
// perhaps through another node that still held its key) is refused with
// ENOTFOUND and leaves nothing behind: no record, no token, no consent
// (issue 17.3: a record orphaned under an erased key).
func testGoneSubject(t *testing.T, s coffer.Store) {
	r := record("rec_g1", "cus_g")
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_g")}, Creates: []*coffer.StoredRecord{r}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, &coffer.Change{Deletes: []coffer.RecordRef{{Collection: "customers", ID: "rec_g1"}},
		Erasures: []coffer.Erasure{{Subject: "cus_g", LedgerHash: []byte("h-cus_g"), LedgerVersion: 1}}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	up := record("rec_g1", "cus_g")
	up.Version = 1
	tk := tok("tok_g", "cards", "fp-g", "cus_g")
	for name, ch := range map[string]*coffer.Change{
		"create":  {Creates: []*coffer.StoredRecord{record("rec_g2", "cus_g")}},
		"token":   {NewTokens: []*coffer.Token{tk}},
		"consent": {Consents: []*coffer.ConsentEvent{{Subject: "cus_g", Purpose: "marketing", Granted: true, Time: time.Now()}}},
	} {
		ch.Audit = []*coffer.AuditEntry{entry(name, "")}
		if err := s.Commit(ctx, ch); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Errorf("%s for an erased subject: %v, want not_found", name, err)
		}
	}
	if err := s.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{up}}); err == nil {
		t.Errorf("update of an erased subject's record committed")
	}
	if recs := must(s.SubjectRecords(ctx, "cus_g"))(t); len(recs) != 0 {
		t.Errorf("%d records orphaned under the erased subject", len(recs))
	}
	if got := must(s.Tokens(ctx, []string{"tok_g"}))(t); got["tok_g"] != nil {
		t.Errorf("a token was orphaned under the erased subject")
	}
	if evs := must(s.Consents(ctx, "cus_g"))(t); len(evs) != 0 {
		t.Errorf("%d consent events orphaned under the erased subject", len(evs))
	}
	// A create that brings its subject along is still fine (not erased).
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_g2")}, Creates: []*coffer.StoredRecord{record("rec_g3", "cus_g2")},
		NewTokens: []*coffer.Token{tok("tok_g2", "cards", "fp-g2", "cus_g2")}}); err != nil {
		t.Errorf("a new subject with its record and token: %v", err)
	}
}
