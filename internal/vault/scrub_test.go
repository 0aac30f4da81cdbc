package vault_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/seal"
)

// TestOldShapeSubjectsKeepWorking (issue 15.1): a subject created under the
// older id rule (here a run of digits, as an id imported long ago) still
// takes new records and is read; its id is hashed in the audit log.
func TestOldShapeSubjectsKeepWorking(t *testing.T) {
	f := newFixture(t)
	const old = "4155550123456"
	s, err := seal.New(f.keys)
	if err != nil {
		t.Fatal(err)
	}
	_, wrapped, version, err := s.NewDEK(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{{ID: old, WrappedDEK: wrapped, KEKVersion: version, CreatedAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Records.Create(ctx, f.admin, "customers", []coffer.NewRecord{{Subject: "4155550199999", Fields: raw(map[string]any{"email": "n@example.com"})}}); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("a new subject of the old shape: %v", err)
	}
	c := f.create(t, old, map[string]any{"email": "old@example.com"})
	rec, err := f.v.Records.Get(ctx, f.admin, "customers", c.ID)
	if err != nil || rec.Subject != old {
		t.Fatalf("read a record of an old-shape subject: %+v %v", rec, err)
	}
	entries, err := f.store.Audit(ctx, coffer.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Subject+e.Record+e.Reason, old) {
			t.Errorf("an old-shape subject id in the audit log: %+v", e)
		}
	}
}
