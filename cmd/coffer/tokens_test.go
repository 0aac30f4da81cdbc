package main

import (
	"strings"
	"testing"
)

// The planted card: a Luhn-valid test number, and the forms it could
// leak in (spaced, the middle digits no token or mask may show).
const planted = "4539578763621486"

var panForms = []string{planted, "4539 5787 6362 1486", "57876362"}

// TestTokensOverHTTP tokenizes and detokenizes through the server, stores
// a card in a record, and then finds the card nowhere: not in the data
// directory, the logs, the audit log, errors or /metrics.
func TestTokensOverHTTP(t *testing.T) {
	data := t.TempDir()
	addr, token, logs, stop := devServer(t, data)
	admin := &apiClient{t: t, addr: addr, token: token}
	st, m, raw := admin.call("POST", "/v1/api-keys", "", map[string]any{"name": "billing", "role": "billing"})
	if st != 201 {
		t.Fatal(raw)
	}
	billing := &apiClient{t: t, addr: addr, token: m["key"].(string)}

	st, m, raw = billing.call("POST", "/v1/tokens", "", map[string]any{"namespace": "cards", "card_keep_bin": 6,
		"values": []map[string]any{{"value": "4539 5787 6362 1486", "format": "card"}, {"value": "acct-778-canary"}}})
	if st != 201 {
		t.Fatalf("tokenize: %d %s", st, raw)
	}
	toks := m["tokens"].([]any)
	card := toks[0].(string)
	if len(card) != 16 || !strings.HasPrefix(card, "453957") || !strings.HasSuffix(card, "1486") || card == planted {
		t.Fatalf("card token %q", card)
	}
	billing.expect(400, "purpose_required", "POST", "/v1/tokens/detokenize", "", map[string]any{"tokens": toks})
	st, m, _ = billing.call("POST", "/v1/tokens/detokenize", "billing", map[string]any{"tokens": toks})
	if st != 200 || m["values"].([]any)[0] != planted || m["values"].([]any)[1] != "acct-778-canary" {
		t.Fatalf("detokenize: %d", st)
	}
	// Bad input: the error names the value, never echoes it; nothing stored.
	raw = billing.expect(400, "invalid_argument", "POST", "/v1/tokens", "", map[string]any{"values": []map[string]any{
		{"value": "4539578763621486", "format": "card"}, {"value": "4539578763621487", "format": "card"}}})
	if !strings.Contains(raw, "values[1]") || strings.Contains(raw, "45395787") {
		t.Fatalf("bad card answer: %s", raw)
	}
	billing.expect(400, "invalid_argument", "POST", "/v1/tokens", "", map[string]any{"values": []map[string]any{{"value": "x", "format": "barcode"}}})
	billing.expect(400, "invalid_argument", "POST", "/v1/tokens", "", map[string]any{"values": []map[string]any{{"value": "x"}}, "ttl": "soon"})
	billing.expect(404, "not_found", "POST", "/v1/tokens/detokenize", "billing", map[string]any{"tokens": []string{"tok_nope"}})
	admin.expect(403, "forbidden", "POST", "/v1/tokens/detokenize", "billing", map[string]any{"tokens": toks})

	// A card in a record: billing sees the token, and may detokenize it.
	st, m, raw = billing.call("POST", "/v1/collections/payment_methods/records", "billing", map[string]any{"subject": "cus_card",
		"fields": map[string]any{"card_number": planted, "cardholder": "Holder Canaryname"}})
	if st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	st, m, raw = billing.call("GET", "/v1/collections/payment_methods/records/"+m["id"].(string), "billing", nil)
	if st != 200 || strings.Contains(raw, planted) {
		t.Fatalf("record read: %d %s", st, raw)
	}
	recTok := m["fields"].(map[string]any)["card_number"].(string)
	if st, _, raw = billing.call("POST", "/v1/tokens/detokenize", "billing", map[string]any{"tokens": []string{recTok}}); st != 200 || !strings.Contains(raw, planted) {
		t.Fatalf("detokenize the record's token: %d", st)
	}
	// FPE round trip.
	st, m, raw = billing.call("POST", "/v1/fpe/encrypt", "", map[string]any{"key": "cards", "values": []string{planted}})
	if st != 200 {
		t.Fatal(raw)
	}
	enc := m["values"].([]any)[0].(string)
	if st, m, _ = billing.call("POST", "/v1/fpe/decrypt", "billing", map[string]any{"key": "cards", "values": []string{enc}}); st != 200 || m["values"].([]any)[0] != planted {
		t.Fatalf("fpe decrypt: %d", st)
	}
	_, m, _ = admin.call("POST", "/v1/api-keys", "", map[string]any{"name": "support", "role": "support"})
	support := &apiClient{t: t, addr: addr, token: m["key"].(string)}
	if st := support.rawCall("DELETE", "/v1/tokens/"+card).StatusCode; st != 403 {
		t.Errorf("support revoked a token: %d", st)
	}
	if st := billing.rawCall("DELETE", "/v1/tokens/"+card).StatusCode; st != 204 {
		t.Errorf("revoke: %d", st)
	}
	billing.expect(404, "not_found", "POST", "/v1/tokens/detokenize", "billing", map[string]any{"tokens": []string{card}})

	// The CLI: values on standard input, one per line.
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": billing.token}
	code, out, errs := run(t, env, planted+"\n5555555555554444\n", "tokens", "tokenize", "--format", "card", "--namespace", "cards")
	cliToks := strings.Fields(out)
	if code != 0 || len(cliToks) != 2 || len(cliToks[0]) != 16 || cliToks[0] == planted {
		t.Fatalf("tokens tokenize: %d %q %s", code, out, errs)
	}
	code, out, errs = run(t, env, strings.Join(cliToks, "\n"), "tokens", "detokenize", "-p", "billing")
	if code != 0 || out != planted+"\n5555555555554444\n" {
		t.Fatalf("tokens detokenize: %d %q %s", code, out, errs)
	}
	if code, _, errs = run(t, env, "", "tokens", "revoke", cliToks[1]); code != 0 {
		t.Fatalf("tokens revoke: %d %s", code, errs)
	}
	if code, _, errs = run(t, env, cliToks[1], "tokens", "detokenize", "-p", "billing"); code != 2 || !strings.Contains(errs, "tokens[0]") {
		t.Errorf("detokenize a revoked token: %d %s", code, errs)
	}
	if code, _, errs = run(t, env, "4539578763621487\n", "tokens", "tokenize", "--format", "card"); code != 2 || strings.Contains(errs, "45395787") {
		t.Errorf("a bad card: %d %s", code, errs)
	}
	if code, _, _ = run(t, env, "", "tokens", "tokenize"); code != 2 {
		t.Errorf("no input: exit %d", code)
	}
	if code, out, errs = run(t, env, "a\n\nb\n", "tokens", "tokenize"); code != 2 || out != "" || !strings.Contains(errs, "line 2 is empty") {
		t.Errorf("a blank line: %d %q %s", code, out, errs)
	}

	// Nowhere else: the audit log, /metrics, the data dir, the logs.
	_, _, auditRaw := admin.call("GET", "/v1/audit?limit=500", "", nil)
	_, m, _ = admin.call("POST", "/v1/api-keys", "", map[string]any{"name": "scraper", "role": "monitoring"})
	st, _, metrics := (&apiClient{t: t, addr: addr, token: m["key"].(string)}).call("GET", "/metrics", "", nil)
	if st != 200 || !strings.Contains(metrics, "coffer_http_requests_total") || !strings.Contains(auditRaw, `"action":"detokenize"`) {
		t.Fatalf("metrics (%d) or audit log not read: %.200s", st, metrics)
	}
	for _, f := range panForms {
		if strings.Contains(auditRaw, f) || strings.Contains(metrics, f) {
			t.Errorf("card form %q in the audit log or metrics", f)
		}
	}
	if strings.Contains(auditRaw, card) {
		t.Error("a card token is written in the audit log")
	}
	stop()
	assertAbsent(t, data, logs.String(), panForms...)
}
