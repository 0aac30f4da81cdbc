package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/vault"
)

// newVault opens a vault over a fresh SQLite store with the shop schema
// and returns it with an admin API key.
func newVault(t *testing.T) (*vault.Vault, string) {
	t.Helper()
	dir := t.TempDir()
	if err := keyring.CreateFile(filepath.Join(dir, "keys.json")); err != nil {
		t.Fatal(err)
	}
	v, closeVault := openVault(t, dir)
	t.Cleanup(closeVault)
	_, token, err := v.Identity.CreateAPIKey(context.Background(), vault.SystemCall(), vault.NewAPIKey{Name: "admin", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	return v, token
}

// openVault opens the vault of dir (keys.json, coffer.db); closeVault
// closes the vault, then the store.
func openVault(t *testing.T, dir string) (v *vault.Vault, closeVault func()) {
	t.Helper()
	ctx := context.Background()
	keys, err := (&keyring.File{Path: filepath.Join(dir, "keys.json")}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(keys.IndexKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "coffer.db"), sqlite.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	v, err = vault.New(ctx, vault.Options{Store: st, Keys: keys, Schema: examples.Shop, SchemaName: "shop.yaml"})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return v, func() { v.Close(); st.Close() }
}

// TestMalformedTOTPIsAnAuditedRefusal: a login whose code is not six
// digits answers 400 invalid_argument, and the refusal is in the audit log
// (the format is checked once, by the vault's login, not by the handler).
func TestMalformedTOTPIsAnAuditedRefusal(t *testing.T) {
	v, admin := newVault(t)
	h := New(v, Config{})
	enrollOverHTTP(t, h, admin, "alice", "a long enough passphrase", "support")
	for _, code := range []string{"12345", "12345a", "1234567", ""} {
		body, _ := json.Marshal(map[string]string{"username": "alice", "password": "a long enough passphrase", "totp": code})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/auth/login", strings.NewReader(string(body))))
		if rec.Code != http.StatusBadRequest || decodeError(t, rec).Error.Code != coffer.EINVALID ||
			!strings.Contains(rec.Body.String(), "totp") {
			t.Errorf("code %q: %d %s", code, rec.Code, rec.Body)
		}
		id := rec.Header().Get("Coffer-Request-Id")
		req := httptest.NewRequest("GET", "/v1/audit?actor=op:alice", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var got struct{ Entries []*coffer.AuditEntry }
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range got.Entries {
			if e.RequestID == id && e.Action == "login" && e.Outcome == coffer.OutcomeDenied {
				found = true
			}
		}
		if !found {
			t.Errorf("code %q: the refusal (request %s) is not audited: %s", code, id, rec.Body)
		}
	}
}
