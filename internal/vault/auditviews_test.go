package vault_test

import (
	"slices"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
)

// TestAuditRecordsViews: a read's audit entry says in which view each
// field was returned (format 2), and the entry's hash covers it.
func TestAuditRecordsViews(t *testing.T) {
	f := newFixture(t)
	rec := f.create(t, "cus_1", map[string]any{"email": "views@example.com", "name": "View Person"})
	support := f.call(t, "support", "support")
	if _, err := f.v.Records.Get(ctx, support, "customers", rec.ID); err != nil {
		t.Fatal(err)
	}
	es, err := f.store.Audit(ctx, coffer.AuditFilter{Actor: support.Actor.ID, Desc: true, Limit: 1})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit: %v %v", es, err)
	}
	e := es[0]
	if !slices.Equal(e.Fields, []string{"email", "name"}) || !slices.Equal(e.Views, []coffer.View{coffer.ViewMasked, coffer.ViewPlain}) {
		t.Fatalf("entry fields %v views %v, want [email name] [masked plain]", e.Fields, e.Views)
	}
	sg, _ := audit.NewSigner(f.keys.IndexKey)
	if _, err := f.v.Admin.VerifyAudit(ctx, f.admin, sg.PublicKeys()); err != nil {
		t.Fatalf("verify: %v", err)
	}
}
