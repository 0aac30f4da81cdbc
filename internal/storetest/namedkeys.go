package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhq/coffer"
)

// testNamedKeys: versions of named keys are added by Commit, read back per
// name and listed whole; a version added twice (two rotations racing)
// fails ECONFLICT and still audits the attempt; kinds do not mix.
func testNamedKeys(t *testing.T, s coffer.Store) {
	if got := must(s.NamedKeyVersions(ctx, coffer.NamedKeyFPE, "cards"))(t); len(got) != 0 {
		t.Fatalf("a name never rotated has versions: %v", got)
	}
	at := time.Date(2026, 12, 1, 2, 3, 4, 0, time.UTC)
	fpe2 := &coffer.NamedKey{Kind: coffer.NamedKeyFPE, Name: "cards", Version: 2, DerivedVersion: 1, CreatedAt: at}
	fpe3 := &coffer.NamedKey{Kind: coffer.NamedKeyFPE, Name: "cards", Version: 3, DerivedVersion: 2, CreatedAt: at.Add(time.Hour)}
	tok2 := &coffer.NamedKey{Kind: coffer.NamedKeyToken, Name: "cards", Version: 2, DerivedVersion: 2, CreatedAt: at}
	for _, k := range []*coffer.NamedKey{fpe3, fpe2, tok2} {
		if err := s.Commit(ctx, &coffer.Change{NewNamedKeys: []*coffer.NamedKey{k}, Audit: []*coffer.AuditEntry{entry("keys.rotate", "")}}); err != nil {
			t.Fatal(err)
		}
	}
	again := *fpe2
	again.DerivedVersion = 9
	err := s.Commit(ctx, &coffer.Change{NewNamedKeys: []*coffer.NamedKey{&again}, Audit: []*coffer.AuditEntry{entry("keys.rotate", "")}})
	if coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("the same version twice: %v, want conflict", err)
	}
	if diff := cmp.Diff([]*coffer.NamedKey{fpe2, fpe3}, must(s.NamedKeyVersions(ctx, coffer.NamedKeyFPE, "cards"))(t)); diff != "" {
		t.Errorf("fpe versions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*coffer.NamedKey{tok2}, must(s.NamedKeyVersions(ctx, coffer.NamedKeyToken, "cards"))(t)); diff != "" {
		t.Errorf("token versions (-want +got):\n%s", diff)
	}
	if got := must(s.NamedKeyVersions(ctx, coffer.NamedKeyFPE, "card"))(t); len(got) != 0 {
		t.Errorf("another name has versions: %v", got)
	}
	if diff := cmp.Diff([]*coffer.NamedKey{fpe2, fpe3, tok2}, must(s.NamedKeys(ctx))(t)); diff != "" {
		t.Errorf("all named keys (-want +got):\n%s", diff)
	}
	var rotations, failed int
	for _, e := range must(s.Audit(ctx, coffer.AuditFilter{}))(t) {
		if e.Action == "keys.rotate" {
			rotations++
			if e.Outcome == coffer.OutcomeError {
				failed++
			}
		}
	}
	if rotations != 4 || failed != 1 {
		t.Errorf("%d rotations audited, %d as errors; want 4 and 1", rotations, failed)
	}
}
