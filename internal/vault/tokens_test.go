package vault_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/token"
	"github.com/cofferhq/coffer/internal/vault"
)

const (
	canaryPAN  = "4539578763621486" // Luhn-valid test Visa, planted as a canary
	canaryPAN2 = "5555555555554444"
)

func TestTokenizeDetokenize(t *testing.T) {
	f := newFixture(t, canaryPAN, canaryPAN2, "secret-account-7781")
	billing := f.call(t, "billing", "billing")
	toks, err := f.v.Tokens.Tokenize(ctx, billing, vault.TokenizeRequest{Namespace: "cards", Values: []vault.TokenValue{
		{Value: canaryPAN, Format: "card"}, {Value: "4539 5787 6362 1486", Format: "card"}, {Value: "secret-account-7781"},
	}, CardKeepBIN: 6})
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range toks[:2] {
		if len(ct) != 16 || !strings.HasPrefix(ct, "453957") || !strings.HasSuffix(ct, "1486") || token.Luhn(ct) || ct == canaryPAN {
			t.Errorf("card token %q: want 16 digits, BIN and last 4 kept, failing Luhn", ct)
		}
	}
	if toks[0] == toks[1] {
		t.Error("random card tokens repeat")
	}
	if !token.IsRandom(toks[2]) {
		t.Errorf("random token %q", toks[2])
	}
	vals, err := f.v.Tokens.Detokenize(ctx, billing, toks)
	if err != nil || vals[0] != canaryPAN || vals[1] != canaryPAN || vals[2] != "secret-account-7781" {
		t.Fatalf("detokenize: %v %v", err, vals)
	}
	// Deterministic: same value, same token; another namespace, another.
	det := func(ns string) string {
		t.Helper()
		out, err := f.v.Tokens.Tokenize(ctx, billing, vault.TokenizeRequest{Namespace: ns, Deterministic: true, Values: []vault.TokenValue{{Value: canaryPAN2, Format: "card"}}})
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	if a, b, c := det("cards"), det("cards"), det("default"); a != b || a == c {
		t.Errorf("deterministic tokens: %s %s %s", a, b, c)
	}

	// Refusals, each changing nothing.
	noPurpose := f.call(t, "billing", "")
	if _, err := f.v.Tokens.Detokenize(ctx, noPurpose, toks[:1]); coffer.ErrorCode(err) != coffer.EPURPOSE {
		t.Errorf("detokenize without a purpose: %v", err)
	}
	support := f.call(t, "support", "support")
	if _, err := f.v.Tokens.Detokenize(ctx, support, toks[:1]); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("support detokenized: %v", err)
	}
	if _, err := f.v.Tokens.Tokenize(ctx, support, vault.TokenizeRequest{Values: []vault.TokenValue{{Value: "x"}}}); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("support tokenized: %v", err)
	}
	if _, err := f.v.Tokens.Detokenize(ctx, f.admin, toks[:1]); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("admin without the detokenize grant detokenized: %v", err)
	}
	for _, bad := range []vault.TokenizeRequest{
		{Values: []vault.TokenValue{{Value: canaryPAN, Format: "card"}, {Value: "4539578763621487", Format: "card"}}}, // Luhn fails
		{Values: []vault.TokenValue{{Value: "12345", Format: "card"}}},
		{Values: []vault.TokenValue{{Value: "x", Format: "uuid"}}},
		{Values: make([]vault.TokenValue, 1001)},
		{Values: []vault.TokenValue{{Value: canaryPAN, Format: "card"}}, CardKeepBIN: 4},
		{Values: []vault.TokenValue{{Value: "4222222222222", Format: "card"}}, CardKeepBIN: 8}, // 13 digits: 1 left to randomize
		{Values: []vault.TokenValue{{Value: "x"}}, Namespace: "Not OK"},
	} {
		_, err := f.v.Tokens.Tokenize(ctx, billing, bad)
		if coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("Tokenize(%d values): %v", len(bad.Values), err)
		}
		if err != nil && strings.Contains(err.Error(), "4539") {
			t.Errorf("error echoes the card: %v", err)
		}
	}
	_, err = f.v.Tokens.Tokenize(ctx, billing, vault.TokenizeRequest{Values: []vault.TokenValue{{Value: canaryPAN, Format: "card"}, {Value: "4539578763621487", Format: "card"}}})
	if !strings.Contains(coffer.ErrorMessage(err), "values[1]") {
		t.Errorf("the error does not name the bad value: %v", err)
	}
	if _, err := f.v.Tokens.Detokenize(ctx, billing, []string{toks[0], "tok_unknown"}); coffer.ErrorCode(err) != coffer.ENOTFOUND || !strings.Contains(coffer.ErrorMessage(err), "tokens[1]") {
		t.Errorf("unknown token: %v", err)
	}

	// Revocation and expiry.
	if err := f.v.Tokens.Revoke(ctx, billing, toks[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Tokens.Detokenize(ctx, billing, toks[2:]); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("revoked token: %v", err)
	}
	short, err := f.v.Tokens.Tokenize(ctx, billing, vault.TokenizeRequest{TTL: time.Hour, Values: []vault.TokenValue{{Value: "short-lived"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Tokens.Detokenize(ctx, billing, short); err != nil {
		t.Fatal(err)
	}
	f.advance(2 * time.Hour)
	if _, err := f.v.Tokens.Detokenize(ctx, billing, short); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("expired token: %v", err)
	}

	// The audit log names tokens by a hash, never the token or the card.
	es, _ := f.store.Audit(ctx, coffer.AuditFilter{Limit: 1000})
	n := 0
	for _, e := range es {
		if strings.Contains(e.Record+e.Reason, "4539") || strings.Contains(e.Record, toks[0]) {
			t.Errorf("audit entry %d holds a card or token: %+v", e.Seq, e)
		}
		if e.Action == "detokenize" && e.Outcome == coffer.OutcomeAllowed {
			n++
		}
	}
	if n < 4 {
		t.Errorf("%d detokenizations audited, want one per token", n)
	}
}

// TestCardFieldIsTokenized: a tokenize: card field is stored as token and
// ciphertext; roles without detokenize see the token, billing detokenizes
// it, and erasing the subject deletes the token.
func TestCardFieldIsTokenized(t *testing.T) {
	f := newFixture(t, canaryPAN)
	billing := f.call(t, "billing", "billing")
	out, err := f.v.Records.Create(ctx, billing, "payment_methods", []coffer.NewRecord{{Subject: "cus_pay", Fields: raw(map[string]any{"card_number": canaryPAN, "cardholder": "Card Holder"})}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.v.Records.Get(ctx, billing, "payment_methods", out[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var tok string
	if err := jsonString(rec.Fields["card_number"], &tok); err != nil || len(tok) != 16 || !strings.HasSuffix(tok, "1486") || token.Luhn(tok) {
		t.Fatalf("billing sees %s, want a card token", rec.Fields["card_number"])
	}
	adminView, _ := f.v.Records.Get(ctx, f.call(t, "admin", "billing"), "payment_methods", out[0].ID)
	if string(adminView.Fields["card_number"]) != `"`+tok+`"` {
		t.Errorf("admin (plain, no detokenize) sees %s, want the token", adminView.Fields["card_number"])
	}
	vals, err := f.v.Tokens.Detokenize(ctx, billing, []string{tok})
	if err != nil || vals[0] != canaryPAN {
		t.Fatalf("detokenize the record's token: %v %v", err, vals)
	}
	// A restricted subject's card is not revealed for billing.
	if err := f.v.Privacy.SetRestriction(ctx, f.admin, "cus_pay", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Tokens.Detokenize(ctx, billing, []string{tok}); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("detokenized a restricted subject's card: %v", err)
	}
	if err := f.v.Privacy.SetRestriction(ctx, f.admin, "cus_pay", false); err != nil {
		t.Fatal(err)
	}
	// A new card replaces the token.
	upd, err := f.v.Records.Update(ctx, billing, "payment_methods", out[0].ID, raw(map[string]any{"card_number": canaryPAN2}))
	if err != nil || string(upd.Fields["card_number"]) == `"`+tok+`"` || !strings.HasSuffix(string(upd.Fields["card_number"]), `4444"`) {
		t.Fatalf("update: %v %s", err, upd.Fields["card_number"])
	}
	r, _ := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: "cus_pay"})
	f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "verify"})
	if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "complete"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Tokens.Detokenize(ctx, billing, []string{tok}); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("a token of an erased subject detokenizes: %v", err)
	}
}

func TestFPE(t *testing.T) {
	f := newFixture(t, canaryPAN)
	billing := f.call(t, "billing", "billing")
	for _, alg := range []string{"ff1", "ff3-1"} {
		enc, err := f.v.Tokens.FPE(ctx, billing, vault.FPERequest{Key: "cards", Algorithm: alg, Values: []string{canaryPAN, "000000"}}, false)
		if err != nil {
			t.Fatal(alg, err)
		}
		if enc.Version != 1 || len(enc.Values[0]) != 16 || strings.Trim(enc.Values[0], "0123456789") != "" || enc.Values[0] == canaryPAN {
			t.Errorf("%s: %q (version %d) is not a 16-digit ciphertext under version 1", alg, enc.Values[0], enc.Version)
		}
		dec, err := f.v.Tokens.FPE(ctx, billing, vault.FPERequest{Key: "cards", Algorithm: alg, Values: enc.Values}, true)
		if err != nil || dec.Values[0] != canaryPAN || dec.Values[1] != "000000" {
			t.Errorf("%s round trip: %v %v", alg, err, dec)
		}
	}
	for _, bad := range []vault.FPERequest{
		{Key: "cards", Values: []string{"12345"}},                    // domain 10^5 < 10^6
		{Key: "cards", Values: []string{"12ab56789"}},                // outside the alphabet
		{Key: "cards", Values: []string{strings.Repeat("1", 300)}},   // too long
		{Key: "cards", Algorithm: "ff3", Values: []string{"123456"}}, // FF3 is not offered
		{Key: "cards", Alphabet: "hex", Values: []string{"123456"}},  // unknown alphabet
		{Key: "cards", Algorithm: "ff3-1", Tweak: []byte{1}, Values: []string{"123456"}},
	} {
		if _, err := f.v.Tokens.FPE(ctx, billing, bad, false); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("FPE(%+v): %v", bad, err)
		}
	}
	if _, err := f.v.Tokens.FPE(ctx, f.call(t, "support", "support"), vault.FPERequest{Key: "cards", Values: []string{"123456"}}, true); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("support decrypted: %v", err)
	}
}

func jsonString(raw []byte, s *string) error { return json.Unmarshal(raw, s) }

// TestRecordTokenPurpose: a record's card token detokenizes only for a
// purpose the field is collected for.
func TestRecordTokenPurpose(t *testing.T) {
	f := newFixture(t)
	billing := f.call(t, "billing", "billing")
	out, err := f.v.Records.Create(ctx, billing, "payment_methods", []coffer.NewRecord{{Fields: raw(map[string]any{"card_number": canaryPAN2})}})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := f.v.Records.Get(ctx, billing, "payment_methods", out[0].ID)
	var tok string
	jsonString(rec.Fields["card_number"], &tok)
	// A role with every purpose and the field's detokenize grant, asking
	// for a purpose the card is not collected for.
	doc := strings.Replace(string(examples.Shop), "roles:", "roles:\n  auditor: {purposes: \"*\", collections: {payment_methods: {read: {card_number: token}, detokenize: [card_number]}}}", 1)
	if _, err := f.v.Admin.PutSchema(ctx, f.admin, []byte(doc), false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Tokens.Detokenize(ctx, f.call(t, "auditor", "marketing"), []string{tok}); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("detokenized for a purpose the field lacks: %v", err)
	}
	if vals, err := f.v.Tokens.Detokenize(ctx, f.call(t, "auditor", "billing"), []string{tok}); err != nil || vals[0] != canaryPAN2 {
		t.Errorf("detokenize for billing: %v", err)
	}
}
