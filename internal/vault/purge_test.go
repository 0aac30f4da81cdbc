package vault_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/vault"
)

// gatedStore holds the purge job's page reads (the only reads with a
// cutoff past year 2200) until gate is closed, so a test can look at the
// vault between a schema change and the deletion of what it dropped.
type gatedStore struct {
	*sqlite.Store
	gate chan struct{}
}

func (s *gatedStore) ExpiredRecords(ctx context.Context, collection string, cutoff, afterUpdated time.Time, afterID string, limit int) ([]*coffer.StoredRecord, error) {
	if cutoff.Year() > 2200 {
		<-s.gate
	}
	return s.Store.ExpiredRecords(ctx, collection, cutoff, afterUpdated, afterID, limit)
}

var (
	noPhone = []byte(strings.NewReplacer(
		"      phone:     {type: phone, classification: personal, searchable: true, mask: last4, purposes: [account, support]}\n", "",
		"email: masked, phone: masked}", "email: masked}", "search: [email, phone]", "search: [email]").Replace(string(withNotes)))
	withNotes = bytes.Replace(examples.Shop, []byte("  payment_methods:"), []byte("  notes:\n    fields:\n      text: {type: string, classification: personal, purposes: [account]}\n  payment_methods:"), 1)
)

// TestSchemaDropOrphansNothing: a schema change that drops a field or a
// collection holding values is refused naming it and the count; with
// purge it commits, the values are invisible at once and the name cannot
// come back while a background job (which Close waits for, and Unseal
// resumes) deletes them a page at a time, each deletion audited.
func TestSchemaDropOrphansNothing(t *testing.T) {
	if bytes.Equal(noPhone, examples.Shop) {
		t.Fatal("schema edit did not apply")
	}
	f := newFixture(t, "+14155550123")
	// The fixture's vault shares the store: its startup job (nothing to
	// purge) must be over before a purge exists, so that only v's runs.
	if err := f.v.Admin.WaitPurges(ctx); err != nil {
		t.Fatal(err)
	}
	gs := &gatedStore{Store: f.store, gate: make(chan struct{})}
	v, err := vault.New(ctx, vault.Options{Store: gs, Keys: f.keys, Schema: examples.Shop})
	if err != nil {
		t.Fatal(err)
	}
	admin := &vault.Call{Actor: f.admin.Actor, Purpose: "account"}
	if _, err := v.Admin.PutSchema(ctx, admin, withNotes, false); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, fields := range []map[string]any{
		{"email": "a@example.com", "phone": "+14155550123"}, {"email": "b@example.com", "phone": "+14155550124"}, {"email": "c@example.com"},
	} {
		out, err := v.Records.Create(ctx, admin, "customers", []coffer.NewRecord{{Subject: "cus_" + string(rune('a'+i)), Fields: raw(fields)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out[0].ID)
	}
	note, err := v.Records.Create(ctx, admin, "notes", []coffer.NewRecord{{Subject: "cus_a", Fields: raw(map[string]any{"text": "call back"})}})
	if err != nil {
		t.Fatal(err)
	}

	// Refused without purge, naming the field and its count; nothing changes.
	for _, tc := range []struct {
		doc  []byte
		want string
	}{
		{noPhone, `"customers.phone" (2 stored values)`},
		{examples.Shop, `"notes" (1 records)`},
	} {
		_, err := v.Admin.PutSchema(ctx, admin, tc.doc, false)
		if coffer.ErrorCode(err) != coffer.ECONFLICT || !strings.Contains(coffer.ErrorMessage(err), tc.want) {
			t.Errorf("dropping without purge: %v, want conflict naming %s", err, tc.want)
		}
		if e := lastEntry(t, f); e.Action != "schema.update" || e.Outcome != coffer.OutcomeError || e.Reason != coffer.ECONFLICT {
			t.Errorf("refusal audited as %+v", e)
		}
	}
	if v.Schema().Collections["customers"].Fields["phone"] == nil || v.Schema().Collections["notes"] == nil {
		t.Fatal("a refused schema change applied")
	}

	// With purge: committed, the values invisible at once, still stored.
	if _, err := v.Admin.PutSchema(ctx, admin, noPhone, true); err != nil {
		t.Fatal(err)
	}
	rec, err := v.Records.Get(ctx, admin, "customers", ids[0])
	if err != nil || rec.Fields["phone"] != nil || len(rec.Withheld) != 0 {
		t.Fatalf("read during the purge: %v %+v", err, rec)
	}
	if _, err := v.Records.Search(ctx, admin, "customers", raw(map[string]any{"phone": "+14155550123"}), 10); err == nil {
		t.Error("searched a dropped field")
	}
	if sr, err := f.store.Record(ctx, "customers", ids[0]); err != nil || sr.Fields["phone"] == nil {
		t.Fatalf("the job ran before the gate opened: %v", err)
	}
	// The name cannot come back while its purge runs (the old values would).
	if _, err := v.Admin.PutSchema(ctx, admin, examples.Shop, true); coffer.ErrorCode(err) != coffer.ECONFLICT || !strings.Contains(coffer.ErrorMessage(err), `"customers.phone" is still being purged`) {
		t.Fatalf("re-declaring a field being purged: %v", err)
	}
	// An update during the purge carries the dropped value along; the job
	// meets the record again.
	if _, err := v.Records.Update(ctx, admin, "customers", ids[1], raw(map[string]any{"email": "b2@example.com"})); err != nil {
		t.Fatal(err)
	}

	// Close waits for the job, which stops between pages; the purge stays
	// pending and a new vault over the store resumes it on unseal.
	closed := make(chan error)
	go func() { closed <- v.Close() }()
	close(gs.gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	v2, err := vault.New(ctx, vault.Options{Store: f.store, Keys: f.keys, Schema: examples.Shop})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if err := v2.Admin.WaitPurges(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if sr, err := f.store.Record(ctx, "customers", id); err != nil || sr.Fields["phone"] != nil || sr.Fields["email"] == nil {
			t.Errorf("after the purge, record %s: %v phone kept %v", id, err, sr != nil && sr.Fields["phone"] != nil)
		}
	}
	if ps, err := f.store.Purges(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("purges left: %v %v", ps, err)
	}
	es, err := f.store.Audit(ctx, coffer.AuditFilter{Actor: "system:purge", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var fieldEntries int
	for _, e := range es {
		if e.Action == "schema.purge_field" && e.Fields[0] == "phone" && e.Outcome == coffer.OutcomeAllowed {
			fieldEntries++
		}
	}
	if fieldEntries != 2 || es[len(es)-1].Action != "schema.purge_done" || !strings.Contains(es[len(es)-1].Reason, "customers.phone") {
		t.Errorf("purge audit: %d field entries, last %+v", fieldEntries, es[len(es)-1])
	}
	// Declared again, the field starts empty: the old values are gone.
	admin2 := &vault.Call{Actor: f.admin.Actor, Purpose: "account"}
	if _, err := v2.Admin.PutSchema(ctx, admin2, withNotes, false); err != nil {
		t.Fatal(err)
	}
	if rec, err := v2.Records.Get(ctx, admin2, "customers", ids[0]); err != nil || rec.Fields["phone"] != nil {
		t.Errorf("re-declared phone came back: %v %+v", err, rec)
	}

	// A whole collection.
	if _, err := v2.Admin.PutSchema(ctx, admin2, examples.Shop, true); err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Records.Get(ctx, admin2, "notes", note[0].ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("a dropped collection's record: %v", err)
	}
	if err := v2.Admin.WaitPurges(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Record(ctx, "notes", note[0].ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("after the purge, the note: %v", err)
	}
	if _, err := v2.Admin.PutSchema(ctx, admin2, withNotes, false); err != nil {
		t.Fatalf("re-declaring notes after its purge: %v", err)
	}
}

// TestSchemaLegacyOrphans: values stored under a field no schema declares
// (dropped before purges existed) would come back when the name is
// declared: that is refused naming the count, and a schema change with
// purge deletes them, after which the name may be declared.
func TestSchemaLegacyOrphans(t *testing.T) {
	f := newFixture(t, "legacy-canary-value")
	if err := f.v.Admin.WaitPurges(ctx); err != nil {
		t.Fatal(err)
	}
	rec := f.create(t, "cus_legacy", map[string]any{"email": "l@example.com"})
	// An orphan as an older release left it: a value under an undeclared name.
	sr, err := f.store.Record(ctx, "customers", rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	up := *sr
	up.Fields = map[string][]byte{"legacy": []byte("legacy-canary-value")}
	for k, ct := range sr.Fields {
		up.Fields[k] = ct
	}
	if err := f.store.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{&up}}); err != nil {
		t.Fatal(err)
	}
	withLegacy := bytes.Replace(examples.Shop, []byte("      address:"), []byte("      legacy:    {type: string, classification: personal, purposes: [account]}\n      address:"), 1)
	_, err = f.v.Admin.PutSchema(ctx, f.admin, withLegacy, false)
	if coffer.ErrorCode(err) != coffer.ECONFLICT || !strings.Contains(coffer.ErrorMessage(err), `"customers.legacy" still holds 1 values`) {
		t.Fatalf("declaring a name with orphaned values: %v", err)
	}
	if _, err := f.v.Admin.PutSchema(ctx, f.admin, withLegacy, true); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("declaring it with purge: %v", err)
	}
	if _, err := f.v.Admin.PutSchema(ctx, f.admin, examples.Shop, false); err != nil {
		t.Fatalf("an unchanged schema without purge: %v", err)
	}
	if _, err := f.v.Admin.PutSchema(ctx, f.admin, examples.Shop, true); err != nil {
		t.Fatal(err)
	}
	if err := f.v.Admin.WaitPurges(ctx); err != nil {
		t.Fatal(err)
	}
	if sr, err := f.store.Record(ctx, "customers", rec.ID); err != nil || sr.Fields["legacy"] != nil || sr.Fields["email"] == nil {
		t.Fatalf("after the purge: %v", err)
	}
	if _, err := f.v.Admin.PutSchema(ctx, f.admin, withLegacy, false); err != nil {
		t.Fatalf("declaring the purged name: %v", err)
	}
}
