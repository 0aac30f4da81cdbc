package storetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// recordTok is a token of a record's field.
func recordTok(id, rec, field, subject string) *coffer.Token {
	t := tok(id, "payment_methods."+field, "fp-"+id, subject)
	t.Record, t.Field = rec, field
	return t
}

func tokenIDs(t *testing.T, s coffer.Store, ids ...string) []string {
	t.Helper()
	got := must(s.Tokens(ctx, ids))(t)
	return slices.Sorted(maps.Keys(got))
}

// testTokenLifecycle: a record's tokens live and die with their value, in
// the change that replaces, removes or deletes it (SPEC §3).
func testTokenLifecycle(t *testing.T, s coffer.Store) {
	card := func(id string) *coffer.StoredRecord {
		r := record(id, "cus_1")
		r.Collection, r.Index = "payment_methods", nil
		r.Fields = map[string][]byte{"card_number": []byte("ct-card-" + id), "card_number#token": []byte("ct-tok-" + id),
			"iban": []byte("ct-iban-" + id)}
		return r
	}
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}, Creates: []*coffer.StoredRecord{card("rec_a"), card("rec_b")},
		NewTokens: []*coffer.Token{recordTok("t_a1", "rec_a", "card_number", "cus_1"), recordTok("t_aiban", "rec_a", "iban", "cus_1"),
			recordTok("t_b1", "rec_b", "card_number", "cus_1"), tok("t_free", "cards", "fp-free", "")}}); err != nil {
		t.Fatal(err)
	}
	// An update that leaves every sealed value as it was keeps every token.
	up := card("rec_a")
	up.Version = 1
	if err := s.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{up},
		NewTokens: []*coffer.Token{recordTok("t_a2", "rec_a", "card_number", "cus_1")}}); err != nil {
		t.Fatal(err)
	}
	if got := tokenIDs(t, s, "t_a1", "t_a2", "t_aiban"); !slices.Equal(got, []string{"t_a1", "t_a2", "t_aiban"}) {
		t.Fatalf("an update that changed no value: tokens %v", got)
	}
	// The card is replaced: its old tokens die, its new one (written by
	// the same change) lives, and the unchanged field keeps its token.
	up = card("rec_a")
	up.Fields["card_number"] = []byte("ct-card-replaced")
	up.Version = 2
	if err := s.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{up},
		NewTokens: []*coffer.Token{recordTok("t_a3", "rec_a", "card_number", "cus_1")}}); err != nil {
		t.Fatal(err)
	}
	if got := tokenIDs(t, s, "t_a1", "t_a2", "t_a3", "t_aiban", "t_b1"); !slices.Equal(got, []string{"t_a3", "t_aiban", "t_b1"}) {
		t.Errorf("after replacing rec_a's card: tokens %v, want t_a3 t_aiban t_b1", got)
	}
	// A field removed (a PATCH to null, a retention sweep) takes its token.
	up = card("rec_a")
	up.Fields["card_number"] = []byte("ct-card-replaced")
	delete(up.Fields, "iban")
	up.Version = 3
	if err := s.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{up}}); err != nil {
		t.Fatal(err)
	}
	if got := tokenIDs(t, s, "t_a3", "t_aiban"); !slices.Equal(got, []string{"t_a3"}) {
		t.Errorf("after removing rec_a's iban: tokens %v, want t_a3", got)
	}
	// A failed update (stale version) deletes nothing.
	if err := s.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{card("rec_a")}}); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("stale update: %v", err)
	}
	if got := tokenIDs(t, s, "t_a3"); len(got) != 1 {
		t.Errorf("a failed update deleted a token")
	}
	// Deleting the record deletes its tokens, no other.
	if err := s.Commit(ctx, &coffer.Change{Deletes: []coffer.RecordRef{{Collection: "payment_methods", ID: "rec_a"}}}); err != nil {
		t.Fatal(err)
	}
	if got := tokenIDs(t, s, "t_a3", "t_b1", "t_free"); !slices.Equal(got, []string{"t_b1", "t_free"}) {
		t.Errorf("after deleting rec_a: tokens %v, want t_b1 t_free", got)
	}
	got := must(s.Tokens(ctx, []string{"t_b1"}))(t)["t_b1"]
	if got.Record != "rec_b" || got.Field != "card_number" || got.Subject != "cus_1" {
		t.Errorf("token read back: record %q field %q subject %q", got.Record, got.Field, got.Subject)
	}
}

// testExpiredTokens: tokens past their expiry are listed in expiry order
// and DeleteTokens deletes them (unknown ids skipped).
func testExpiredTokens(t *testing.T, s coffer.Store) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var toks []*coffer.Token
	for i, d := range []time.Duration{3, 1, 0, 2} {
		tk := tok("t_"+string(rune('a'+i)), "cards", "fp"+string(rune('a'+i)), "cus_x")
		if d > 0 {
			tk.ExpiresAt = base.Add(d * time.Hour)
		}
		toks = append(toks, tk)
	}
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_x")}, NewTokens: toks}); err != nil {
		t.Fatal(err)
	}
	exp := must(s.ExpiredTokens(ctx, base.Add(150*time.Minute), 10))(t)
	if len(exp) != 2 || exp[0].Token != "t_b" || exp[1].Token != "t_d" {
		t.Fatalf("expired before 2h30: %d tokens", len(exp))
	}
	if err := s.Commit(ctx, &coffer.Change{DeleteTokens: []string{"t_b", "t_missing"}}); err != nil {
		t.Fatal(err)
	}
	if got := tokenIDs(t, s, "t_a", "t_b", "t_c", "t_d"); !slices.Equal(got, []string{"t_a", "t_c", "t_d"}) {
		t.Errorf("after deleting t_b: %v", got)
	}
}

// testPurges: a schema change and the purges of what it dropped commit
// together; a pending purge hides the tokens of its field (or collection)
// and refuses a second purge of the name; ending it shows them again.
func testPurges(t *testing.T, s coffer.Store) {
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")},
		NewTokens: []*coffer.Token{recordTok("t_card", "rec_p", "card_number", "cus_1"), recordTok("t_iban", "rec_p", "iban", "cus_1"),
			tok("t_free", "payment_methods", "fp-free", "")}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*coffer.StoredRecord{record("rec_1", "cus_1"), record("rec_2", "cus_1")} {
		if err := s.Commit(ctx, &coffer.Change{Creates: []*coffer.StoredRecord{r}}); err != nil {
			t.Fatal(err)
		}
	}
	r3 := record("rec_3", "cus_1")
	delete(r3.Fields, "name")
	if err := s.Commit(ctx, &coffer.Change{Creates: []*coffer.StoredRecord{r3}}); err != nil {
		t.Fatal(err)
	}
	n, fields, err := s.CountValues(ctx, "customers")
	if err != nil || n != 3 || fields["email"] != 3 || fields["name"] != 2 || len(fields) != 2 {
		t.Fatalf("CountValues = %d %v %v", n, fields, err)
	}
	if n, fields, err := s.CountValues(ctx, "nothing"); err != nil || n != 0 || len(fields) != 0 {
		t.Fatalf("CountValues of an empty collection = %d %v %v", n, fields, err)
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Commit(ctx, &coffer.Change{SchemaDoc: []byte("v2")}); coffer.ErrorCode(err) != coffer.EINTERNAL {
		t.Errorf("a schema change without a time: %v", err)
	}
	p1 := &coffer.Purge{ID: "pur_1", Collection: "payment_methods", Field: "card_number", CreatedAt: at}
	if err := s.Commit(ctx, &coffer.Change{SchemaDoc: []byte("v2"), NewPurges: []*coffer.Purge{p1}, At: at,
		Audit: []*coffer.AuditEntry{entry("schema.update", "")}}); err != nil {
		t.Fatal(err)
	}
	if doc := must(s.Schema(ctx))(t); string(doc) != "v2" {
		t.Errorf("schema = %q", doc)
	}
	if ps := must(s.Purges(ctx))(t); len(ps) != 1 || *ps[0] != *p1 {
		t.Fatalf("Purges = %v", ps)
	}
	if got := tokenIDs(t, s, "t_card", "t_iban", "t_free"); !slices.Equal(got, []string{"t_free", "t_iban"}) {
		t.Errorf("purging payment_methods.card_number: visible tokens %v, want t_free t_iban", got)
	}
	// The name (or its collection) cannot be purged again while pending,
	// and the refused change stores no document.
	for _, p := range []*coffer.Purge{{ID: "pur_2", Collection: "payment_methods", Field: "card_number"}, {ID: "pur_3", Collection: "payment_methods"}} {
		p.CreatedAt = at
		if err := s.Commit(ctx, &coffer.Change{SchemaDoc: []byte("v3"), NewPurges: []*coffer.Purge{p}, At: at}); coffer.ErrorCode(err) != coffer.ECONFLICT {
			t.Errorf("purge %s while pur_1 runs: %v", p.ID, err)
		}
	}
	if doc := must(s.Schema(ctx))(t); string(doc) != "v2" {
		t.Errorf("a refused schema change stored %q", doc)
	}
	// A whole collection's purge hides every token of it.
	p4 := &coffer.Purge{ID: "pur_4", Collection: "payment_methods", CreatedAt: at.Add(time.Second)}
	if err := s.Commit(ctx, &coffer.Change{PurgesDone: []string{"pur_1"}, SchemaDoc: []byte("v4"), NewPurges: []*coffer.Purge{p4}, At: at}); err != nil {
		t.Fatal(err)
	}
	if got := tokenIDs(t, s, "t_card", "t_iban", "t_free"); !slices.Equal(got, []string{"t_free"}) {
		t.Errorf("purging payment_methods: visible tokens %v, want t_free", got)
	}
	if err := s.Commit(ctx, &coffer.Change{PurgesDone: []string{"pur_4", "pur_unknown"}}); err != nil {
		t.Fatal(err)
	}
	if ps := must(s.Purges(ctx))(t); len(ps) != 0 {
		t.Errorf("purges left: %v", ps)
	}
	if got := tokenIDs(t, s, "t_card", "t_iban", "t_free"); len(got) != 3 {
		t.Errorf("after the purges ended: visible tokens %v", got)
	}
}
