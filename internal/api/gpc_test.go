package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGPCOnlyWhereTheConsumerSpeaks (issue 15.3): Sec-GPC: 1 sent by an
// operator's own browser changes nothing — not on a GET of consents, not on
// a consent write made without the body's "gpc". Only a consent write
// carrying "gpc": true (made for the consumer's agent) withdraws sale and
// sharing purposes.
func TestGPCOnlyWhereTheConsumerSpeaks(t *testing.T) {
	v, token := newVault(t)
	h := New(v, Config{})
	call := func(method, path, body string, gpcHeader bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if gpcHeader {
			req.Header.Set("Sec-GPC", "1")
		}
		if strings.Contains(path, "/records") {
			req.Header.Set("Coffer-Purpose", "account")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	current := func() map[string]bool {
		rec := call("GET", "/v1/subjects/cus_gpc/consents", "", true)
		var sc struct{ Current map[string]bool }
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &sc) != nil {
			t.Fatalf("GET consents: %d %s", rec.Code, rec.Body)
		}
		return sc.Current
	}
	if rec := call("POST", "/v1/collections/customers/records", `{"subject":"cus_gpc","fields":{"email":"gpc@example.com"}}`, false); rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if rec := call("PUT", "/v1/subjects/cus_gpc/consents/partners", `{"granted":true,"source":"form"}`, false); rec.Code != http.StatusNoContent {
		t.Fatalf("grant partners: %d %s", rec.Code, rec.Body)
	}
	for range 2 {
		if !current()["partners"] {
			t.Fatal("a GET with Sec-GPC: 1 withdrew a consent")
		}
	}
	if rec := call("PUT", "/v1/subjects/cus_gpc/consents/marketing", `{"granted":true,"source":"form"}`, true); rec.Code != http.StatusNoContent {
		t.Fatalf("grant marketing: %d %s", rec.Code, rec.Body)
	}
	if !current()["partners"] {
		t.Fatal("the operator's browser header on a consent write withdrew partners")
	}
	if rec := call("PUT", "/v1/subjects/cus_gpc/consents/marketing", `{"granted":true,"source":"form","gpc":true}`, false); rec.Code != http.StatusNoContent {
		t.Fatalf("consent write with gpc: %d %s", rec.Code, rec.Body)
	}
	if cur := current(); cur["partners"] || !cur["marketing"] {
		t.Fatalf("after a consent write with \"gpc\": true: %v, want partners withdrawn, marketing kept", cur)
	}
}
