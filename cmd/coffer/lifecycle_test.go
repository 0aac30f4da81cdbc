package main

import (
	"strings"
	"testing"

	"github.com/cofferhq/coffer/examples"
)

// TestLifecycleOverHTTP: a replaced card's token answers like an unknown
// token; a standalone token may name a subject; PUT /v1/schema refuses to
// drop a field holding values (409 naming it and the count) unless
// ?purge=true, which hides the values at once.
func TestLifecycleOverHTTP(t *testing.T) {
	addr, token, _, stop := devServer(t, t.TempDir())
	defer stop()
	admin := &apiClient{t: t, addr: addr, token: token}
	st, m, raw := admin.call("POST", "/v1/api-keys", "", map[string]any{"name": "billing", "role": "billing"})
	if st != 201 {
		t.Fatal(raw)
	}
	billing := &apiClient{t: t, addr: addr, token: m["key"].(string)}

	// Tokens die with their value.
	unknown := billing.expect(404, "not_found", "POST", "/v1/tokens/detokenize", "billing", map[string]any{"tokens": []string{"4539570000001486"}})
	st, m, raw = billing.call("POST", "/v1/collections/payment_methods/records", "billing", map[string]any{"subject": "cus_card",
		"fields": map[string]any{"card_number": planted}})
	if st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	path := "/v1/collections/payment_methods/records/" + m["id"].(string)
	_, m, _ = billing.call("GET", path, "billing", nil)
	old := m["fields"].(map[string]any)["card_number"].(string)
	if st, _, raw = billing.call("PATCH", path, "billing", map[string]any{"fields": map[string]any{"card_number": "5555555555554444"}}); st != 200 {
		t.Fatalf("patch: %d %s", st, raw)
	}
	replaced := billing.expect(404, "not_found", "POST", "/v1/tokens/detokenize", "billing", map[string]any{"tokens": []string{old}})
	if withoutRequestID(t, replaced) != withoutRequestID(t, unknown) {
		t.Errorf("a replaced card's token answers %s, an unknown token %s", replaced, unknown)
	}
	if st, _, raw = billing.call("POST", "/v1/tokens", "", map[string]any{"namespace": "cards", "subject": "cus_tok",
		"values": []map[string]any{{"value": "acct-1"}}}); st != 201 {
		t.Fatalf("tokenize for a subject: %d %s", st, raw)
	}

	// Schema changes orphan nothing.
	st, m, raw = admin.call("POST", "/v1/collections/customers/records", "account", map[string]any{"subject": "cus_phone",
		"fields": map[string]any{"email": "p@example.com", "phone": "+14155550123"}})
	if st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	rec := "/v1/collections/customers/records/" + m["id"].(string)
	noPhone := strings.NewReplacer(
		"      phone:     {type: phone, classification: personal, searchable: true, mask: last4, purposes: [account, support]}\n", "",
		"email: masked, phone: masked}", "email: masked}", "search: [email, phone]", "search: [email]").Replace(string(examples.Shop))
	raw = admin.expect(409, "conflict", "PUT", "/v1/schema", "", noPhone)
	if !strings.Contains(raw, `customers.phone\" (1 stored values)`) || !strings.Contains(raw, "purge=true") {
		t.Errorf("refusal does not name the field and count: %s", raw)
	}
	if _, m, _ = admin.call("GET", rec, "account", nil); m["fields"].(map[string]any)["phone"] == nil {
		t.Fatal("a refused schema change hid the phone")
	}
	if st, _, raw = admin.call("PUT", "/v1/schema?purge=true", "", noPhone); st != 200 {
		t.Fatalf("purge: %d %s", st, raw)
	}
	if st, m, raw = admin.call("GET", rec, "account", nil); st != 200 || m["fields"].(map[string]any)["phone"] != nil {
		t.Errorf("after the purging schema change: %d %s", st, raw)
	}
}

// withoutRequestID returns an error answer without its request id.
func withoutRequestID(t *testing.T, raw string) string {
	t.Helper()
	i := strings.Index(raw, `"request_id"`)
	if i < 0 {
		t.Fatalf("no request id in %s", raw)
	}
	return raw[:i]
}
