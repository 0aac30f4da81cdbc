package vault_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/vault"
)

// cardToken creates a payment method holding pan and returns its id and
// the card token billing sees.
func (f *fixture) cardToken(t *testing.T, billing *vault.Call, pan string) (string, string) {
	t.Helper()
	out, err := f.v.Records.Create(ctx, billing, "payment_methods", []coffer.NewRecord{{Subject: "cus_card", Fields: raw(map[string]any{"card_number": pan, "cardholder": "Card Holder"})}})
	if err != nil {
		t.Fatal(err)
	}
	return out[0].ID, f.recordToken(t, billing, out[0].ID)
}

func (f *fixture) recordToken(t *testing.T, billing *vault.Call, id string) string {
	t.Helper()
	rec, err := f.v.Records.Get(ctx, billing, "payment_methods", id)
	if err != nil {
		t.Fatal(err)
	}
	var tok string
	if err := jsonString(rec.Fields["card_number"], &tok); err != nil || len(tok) < 12 {
		t.Fatalf("no card token: %s", rec.Fields["card_number"])
	}
	return tok
}

// refusal is what detokenizing answers and audits.
type refusal struct{ code, message, outcome, reason string }

func (f *fixture) detokenizeRefusal(t *testing.T, c *vault.Call, tok string) refusal {
	t.Helper()
	_, err := f.v.Tokens.Detokenize(ctx, c, []string{tok})
	e := lastEntry(t, f)
	return refusal{coffer.ErrorCode(err), coffer.ErrorMessage(err), e.Outcome, e.Reason}
}

func lastEntry(t *testing.T, f *fixture) *coffer.AuditEntry {
	t.Helper()
	es, err := f.store.Audit(ctx, coffer.AuditFilter{Desc: true, Limit: 1})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit: %v", err)
	}
	return es[0]
}

// TestCardTokensDieWithTheirValue: the token of a card replaced by PATCH,
// removed by PATCH, deleted with its record, or swept by a field's or a
// collection's retention answers exactly like a token never issued (SPEC
// §3: tokens live and die with their value).
func TestCardTokensDieWithTheirValue(t *testing.T) {
	f := newFixture(t)
	billing := f.call(t, "billing", "billing")
	unknown := f.detokenizeRefusal(t, billing, "4539570000001486")
	if unknown.code != coffer.ENOTFOUND {
		t.Fatalf("an unknown token: %+v", unknown)
	}
	dead := func(what, tok string) {
		t.Helper()
		if got := f.detokenizeRefusal(t, billing, tok); got != unknown {
			t.Errorf("%s: detokenizing the old token answers %+v, want %+v (an unknown token)", what, got, unknown)
		}
	}

	id, old := f.cardToken(t, billing, canaryPAN)
	if _, err := f.v.Records.Update(ctx, billing, "payment_methods", id, raw(map[string]any{"card_number": canaryPAN2})); err != nil {
		t.Fatal(err)
	}
	dead("PATCH replaced the card", old)
	cur := f.recordToken(t, billing, id)
	if vals, err := f.v.Tokens.Detokenize(ctx, billing, []string{cur}); err != nil || vals[0] != canaryPAN2 {
		t.Fatalf("the new card's token: %v %v", err, vals)
	}
	// Another field's change keeps the card's token.
	if _, err := f.v.Records.Update(ctx, billing, "payment_methods", id, raw(map[string]any{"cardholder": "New Holder"})); err != nil {
		t.Fatal(err)
	}
	if vals, err := f.v.Tokens.Detokenize(ctx, billing, []string{cur}); err != nil || vals[0] != canaryPAN2 {
		t.Fatalf("a cardholder change lost the card's token: %v %v", err, vals)
	}
	if _, err := f.v.Records.Update(ctx, billing, "payment_methods", id, raw(map[string]any{"card_number": nil})); err != nil {
		t.Fatal(err)
	}
	dead("PATCH removed the card", cur)

	id, tok := f.cardToken(t, billing, canaryPAN)
	if err := f.v.Records.Delete(ctx, f.admin, "payment_methods", id); err != nil {
		t.Fatal(err)
	}
	dead("DELETE of the record", tok)

	// Retention: the card field expires after a day, the collection after three.
	doc := strings.Replace(string(examples.Shop), "tokenize: card, mask: pan,", "tokenize: card, mask: pan, retention: 1d,", 1)
	doc = strings.Replace(doc, "  payment_methods:\n    fields:", "  payment_methods:\n    retention: 3d\n    fields:", 1)
	if doc == string(examples.Shop) {
		t.Fatal("schema edit did not apply")
	}
	if _, err := f.v.Admin.PutSchema(ctx, f.admin, []byte(doc), false); err != nil {
		t.Fatal(err)
	}
	fieldID, fieldTok := f.cardToken(t, billing, canaryPAN)
	f.advance(36 * time.Hour)
	_, recTok := f.cardToken(t, billing, canaryPAN2)
	if rep, err := f.v.Privacy.Sweep(ctx, false); err != nil || rep.Values["payment_methods.card_number"] != 1 {
		t.Fatalf("sweep: %v %+v", err, rep)
	}
	dead("the field's retention swept the card", fieldTok)
	if got, err := f.v.Records.Get(ctx, billing, "payment_methods", fieldID); err != nil || got.Fields["cardholder"] == nil {
		t.Fatalf("the swept record: %v %+v", err, got)
	}
	f.advance(3 * 24 * time.Hour)
	if rep, err := f.v.Privacy.Sweep(ctx, false); err != nil || rep.Records["payment_methods"] != 3 {
		t.Fatalf("sweep: %v %+v", err, rep)
	}
	dead("the collection's retention swept the record", recTok)
}

// TestStandaloneTokenSubject: a standalone token may name a subject (made
// if new); erasing the subject deletes it, and the retention sweep deletes
// tokens past their ttl. Both then answer like a token never issued.
func TestStandaloneTokenSubject(t *testing.T) {
	f := newFixture(t, canaryPAN)
	billing := f.call(t, "billing", "billing")
	unknown := f.detokenizeRefusal(t, billing, "tok_neverissued0000000000000000")
	tokenize := func(req vault.TokenizeRequest) string {
		t.Helper()
		req.Namespace, req.Values = "cards", []vault.TokenValue{{Value: canaryPAN, Format: "card"}}
		out, err := f.v.Tokens.Tokenize(ctx, billing, req)
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	owned, free := tokenize(vault.TokenizeRequest{Subject: "cus_tok"}), tokenize(vault.TokenizeRequest{})
	short := tokenize(vault.TokenizeRequest{Subject: "cus_ttl", TTL: time.Hour})
	if _, err := f.store.Subject(ctx, "cus_tok"); err != nil {
		t.Fatalf("the named subject was not created: %v", err)
	}
	if es, err := f.store.Audit(ctx, coffer.AuditFilter{Subject: "cus_ttl"}); err != nil || len(es) != 1 || es[0].Action != "tokenize" {
		t.Errorf("the tokenization is not in the subject's audit trail: %v %d entries", err, len(es))
	}
	if _, err := f.v.Tokens.Tokenize(ctx, billing, vault.TokenizeRequest{Subject: "jane@example.com", Values: []vault.TokenValue{{Value: "x"}}}); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Errorf("an email as subject: %v", err)
	}
	r, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: "cus_tok"})
	if err != nil {
		t.Fatal(err)
	}
	f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "verify"})
	if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "complete"}); err != nil {
		t.Fatal(err)
	}
	if got := f.detokenizeRefusal(t, billing, owned); got != unknown {
		t.Errorf("the erased subject's token answers %+v, want %+v", got, unknown)
	}
	if vals, err := f.v.Tokens.Detokenize(ctx, billing, []string{free, short}); err != nil || vals[0] != canaryPAN {
		t.Fatalf("tokens of no or another subject: %v", err)
	}
	if _, err := f.v.Tokens.Tokenize(ctx, billing, vault.TokenizeRequest{Subject: "cus_tok", Values: []vault.TokenValue{{Value: "x"}}}); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("a token for an erased subject id: %v", err)
	}
	f.advance(2 * time.Hour)
	if rep, err := f.v.Privacy.Sweep(ctx, true); err != nil || rep.Tokens != 1 {
		t.Fatalf("dry sweep: %v %+v", err, rep)
	}
	if got, _ := f.store.Tokens(ctx, []string{short}); got[short] == nil {
		t.Fatal("a dry run deleted a token")
	}
	if rep, err := f.v.Privacy.Sweep(ctx, false); err != nil || rep.Tokens != 1 {
		t.Fatalf("sweep: %v %+v", err, rep)
	}
	if got, _ := f.store.Tokens(ctx, []string{short, free}); got[short] != nil || got[free] == nil {
		t.Errorf("after the sweep: ttl token kept %v, token without ttl kept %v", got[short] != nil, got[free] != nil)
	}
	if got := f.detokenizeRefusal(t, billing, short); got != unknown {
		t.Errorf("the swept token answers %+v, want %+v", got, unknown)
	}
	if e := lastSweepEntry(t, f); e.Action != "retention.delete_token" || e.Subject != "cus_ttl" {
		t.Errorf("sweep audit: %+v", e)
	}
}

func lastSweepEntry(t *testing.T, f *fixture) *coffer.AuditEntry {
	t.Helper()
	es, err := f.store.Audit(ctx, coffer.AuditFilter{Actor: "system:retention", Desc: true, Limit: 1})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit: %v", err)
	}
	return es[0]
}
