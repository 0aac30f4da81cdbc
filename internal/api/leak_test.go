package api

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/vault"
)

// fakeIdentity authenticates every bearer token as an admin key; the other
// methods are the embedded nil interface's (a call panics: not expected).
type fakeIdentity struct{ identityService }

func (fakeIdentity) Authenticate(context.Context, string, netip.Addr) (*coffer.Actor, error) {
	return &coffer.Actor{ID: "key_test", Kind: "api_key", RoleName: "admin", Role: &coffer.Role{Name: "admin", Admin: true}}, nil
}

func (fakeIdentity) RefuseAuthentication(context.Context, netip.Addr, string, string) error {
	return nil
}

// failingRecords answers every call with err.
type failingRecords struct {
	recordService
	err error
}

func (f failingRecords) Get(context.Context, *vault.Call, string, string) (*coffer.Record, error) {
	return nil, f.err
}

func (f failingRecords) Search(context.Context, *vault.Call, string, map[string]json.RawMessage, int) ([]*coffer.Record, error) {
	return nil, f.err
}

func fakeHandler(records recordService, log *slog.Logger) *Handler {
	h := New(nil, Config{Logger: log})
	h.identity, h.records = fakeIdentity{}, records
	return h
}

func serve(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer coffer_test")
	req.Header.Set("Coffer-Purpose", "support")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestDecodeErrorsDoNotEchoValues (issue 13.6): a wrong-typed value in a
// body is named by its field and kind, never repeated — here a card number
// sent where a number of records or a subject id belongs.
func TestDecodeErrorsDoNotEchoValues(t *testing.T) {
	const pan = "4539578763621486"
	h := fakeHandler(failingRecords{err: errors.New("not reached")}, nil)
	for _, tc := range []struct{ method, path, body, field string }{
		{"POST", "/v1/collections/customers/search", `{"where":{"email":"a@b.co"},"limit":` + pan + `.5}`, `"limit"`},
		{"POST", "/v1/collections/customers/search", `{"where":{"email":"a@b.co"},"limit":` + pan + `0000000000000000000}`, `"limit"`},
		{"POST", "/v1/collections/customers/records", `{"subject":` + pan + `,"fields":{}}`, `"subject"`},
		{"POST", "/v1/tokens", `{"values":[{"value":"x"}],"card_keep_bin":` + pan + `e3}`, `"card_keep_bin"`},
		{"POST", "/v1/api-keys", `{"name":"k","role":"admin","allowed_cidrs":[` + pan + `]}`, `"allowed_cidrs`},
	} {
		rec := serve(h, tc.method, tc.path, tc.body)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s %s: status %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), pan) {
			t.Errorf("%s %s: the answer echoes the value: %s", tc.method, tc.path, rec.Body)
		}
		if msg := decodeError(t, rec).Error.Message; !strings.Contains(msg, tc.field) || !strings.Contains(msg, "must be") {
			t.Errorf("%s %s: the answer does not name the field and the kind: %q", tc.method, tc.path, msg)
		}
	}
}

// TestInternalErrorsAreGeneric (issue 13.6): whatever an error that is not
// a domain error says — a KEK version, a record id, an SQL text — the
// caller gets 500 internal, a generic message and the request id; the
// detail goes to the log, with the request id to find it.
func TestInternalErrorsAreGeneric(t *testing.T) {
	for _, tc := range []struct {
		err    error
		detail string
	}{
		{&coffer.Error{Code: coffer.EINTERNAL, Message: "unknown KEK version 1"}, "unknown KEK version 1"},
		{coffer.Errorf(coffer.EINTERNAL, "field email of record rec_5f3a9 failed to decrypt"), "rec_5f3a9"},
		{errors.New(`sqlite: constraint failed: UNIQUE tokens.value_hash`), "value_hash"},
		{fmt.Errorf("decrypt: %w", errors.New("cipher: message authentication failed")), "message authentication failed"},
		{&coffer.Error{Code: "made_up_code", Message: "the store at /var/lib/coffer failed"}, "/var/lib/coffer"},
	} {
		var logs bytes.Buffer
		h := fakeHandler(failingRecords{err: tc.err}, slog.New(slog.NewTextHandler(&logs, nil)))
		for _, call := range []struct{ method, path, body string }{
			{"GET", "/v1/collections/customers/records/rec_5f3a9", ""},
			{"POST", "/v1/collections/customers/search", `{"where":{"email":"a@b.co"}}`},
		} {
			logs.Reset()
			rec := serve(h, call.method, call.path, call.body)
			id := rec.Header().Get("Coffer-Request-Id")
			body := decodeError(t, rec)
			if rec.Code != http.StatusInternalServerError || body.Error.Code != coffer.EINTERNAL {
				t.Errorf("%v: %s %s answered %d %s", tc.err, call.method, call.path, rec.Code, rec.Body)
			}
			if strings.Contains(rec.Body.String(), tc.detail) {
				t.Errorf("%v: the answer leaks %q: %s", tc.err, tc.detail, rec.Body)
			}
			if id == "" || body.Error.RequestID != id || !strings.Contains(body.Error.Message, id) {
				t.Errorf("%v: the answer does not carry the request id %q: %s", tc.err, id, rec.Body)
			}
			if !strings.Contains(logs.String(), tc.detail) || !strings.Contains(logs.String(), id) {
				t.Errorf("%v: the log lacks the detail or the request id: %s", tc.err, logs.String())
			}
		}
	}
}

// TestDomainErrorsKeepTheirMessage: a domain error's safe message still
// reaches the caller (the generic answer is for internal errors only).
func TestDomainErrorsKeepTheirMessage(t *testing.T) {
	h := fakeHandler(failingRecords{err: coffer.Errorf(coffer.EFORBIDDEN, "role support may not read customers")}, nil)
	rec := serve(h, "GET", "/v1/collections/customers/records/rec_1", "")
	if rec.Code != http.StatusForbidden || decodeError(t, rec).Error.Message != "role support may not read customers" {
		t.Errorf("answer %d %s", rec.Code, rec.Body)
	}
}

// TestInternalErrorFromAVaultIsGeneric: a real vault whose subject key is
// wrapped under a KEK version the keyring lacks fails to read the record
// ("unknown KEK version 7" inside); the caller sees a generic 500 with the
// request id, never the key version or the record id.
func TestInternalErrorFromAVaultIsGeneric(t *testing.T) {
	dir := t.TempDir()
	if err := keyring.CreateFile(filepath.Join(dir, "keys.json")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, closeVault := openVault(t, dir)
	_, token, err := v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "admin", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Coffer-Purpose", "account")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := get(New(v, Config{}), "POST", "/v1/collections/customers/records", `{"subject":"cus_1","fields":{"email":"leak-canary@example.com"}}`)
	var created struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || rec.Code != http.StatusCreated || created.ID == "" {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	path := "/v1/collections/customers/records/" + created.ID
	if rec := get(New(v, Config{}), "GET", path, ""); rec.Code != http.StatusOK {
		t.Fatalf("read before the corruption: %d %s", rec.Code, rec.Body)
	}
	closeVault()

	db, err := sql.Open("sqlite", filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE subjects SET kek_version = 7`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	v, closeVault = openVault(t, dir)
	defer closeVault()
	var logs bytes.Buffer
	h := New(v, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rec = get(h, "GET", path, "")
	id := rec.Header().Get("Coffer-Request-Id")
	body := decodeError(t, rec)
	if rec.Code != http.StatusInternalServerError || body.Error.Code != coffer.EINTERNAL || body.Error.RequestID != id ||
		!strings.Contains(body.Error.Message, id) {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	msg := strings.ReplaceAll(body.Error.Message, id, "")
	for _, leak := range []string{"KEK", "7", created.ID, "leak-canary"} {
		if strings.Contains(msg, leak) {
			t.Errorf("the answer leaks %q: %s", leak, rec.Body)
		}
	}
	if !strings.Contains(logs.String(), id) || !strings.Contains(logs.String(), "KEK") || strings.Contains(logs.String(), "leak-canary") {
		t.Errorf("the log: %s", logs.String())
	}
}
