package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/canary"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/vault"
)

// hygieneServer is a real vault over SQLite in dir, an admin key and the
// API with its log in logs.
type hygieneServer struct {
	t     *testing.T
	dir   string
	v     *vault.Vault
	close func()
	h     *Handler
	admin string
	logs  *bytes.Buffer
}

func newHygieneServer(t *testing.T) *hygieneServer {
	t.Helper()
	s := &hygieneServer{t: t, dir: t.TempDir(), logs: &bytes.Buffer{}}
	if err := keyring.CreateFile(filepath.Join(s.dir, "keys.json")); err != nil {
		t.Fatal(err)
	}
	s.v, s.close = openVault(t, s.dir)
	t.Cleanup(func() { s.close() })
	_, tok, err := s.v.Identity.CreateAPIKey(context.Background(), vault.SystemCall(), vault.NewAPIKey{Name: "admin", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	s.admin = tok
	s.h = New(s.v, Config{Logger: slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return s
}

// call sends a request; hdr holds extra headers ("Authorization" "" for
// none; the admin's bearer token otherwise).
func (s *hygieneServer) call(method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.admin)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

// entries closes the vault (pending refusal summaries are written) and
// reads the whole audit log back.
func (s *hygieneServer) entries() []*coffer.AuditEntry {
	s.t.Helper()
	s.close()
	v, closeVault := openVault(s.t, s.dir)
	s.v, s.close = v, closeVault
	es, err := v.Admin.Audit(context.Background(), vault.SystemCall(), coffer.AuditFilter{Limit: 1000})
	if err != nil {
		s.t.Fatal(err)
	}
	return es
}

// TestNothingCallerSuppliedInTheAuditLog (issue 15.1, the canary test):
// personal data sent through every channel a caller controls — the
// purpose header, path ids, subject ids, other headers, the query — is
// found nowhere in the data directory (database, WAL, keys) or the logs.
// Undeclared purposes and ids of the wrong shape are stored as keyed
// hashes; an oversized purpose is refused before anything else.
func TestNothingCallerSuppliedInTheAuditLog(t *testing.T) {
	s := newHygieneServer(t)
	mail := canary.New("mail") + ".jane.doe@example.com"
	phone := "4155550199" + "7f3a9c1e" // a run of digits: a phone or account number
	pan := "4539578763621486"
	if rec := s.call("POST", "/v1/collections/customers/records", `{"subject":"cus_ok","fields":{"email":"ok@example.com"}}`,
		map[string]string{"Coffer-Purpose": "account"}); rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var created struct{ ID string }
	rec := s.call("POST", "/v1/collections/customers/records", `{"subject":"cus_two","fields":{"email":"two@example.com"}}`,
		map[string]string{"Coffer-Purpose": "account"})
	json.Unmarshal(rec.Body.Bytes(), &created)

	for _, tc := range []struct {
		method, path, body string
		hdr                map[string]string
		want               int
	}{
		// Purposes: undeclared, and one too long to be a name.
		{"GET", "/v1/collections/customers/records/" + created.ID, "", map[string]string{"Coffer-Purpose": mail}, 400},
		{"GET", "/v1/collections/customers/records/" + created.ID, "", map[string]string{"Coffer-Purpose": strings.Repeat(mail, 2000)}, 400},
		{"POST", "/v1/collections/customers/search", `{"where":{"email":"ok@example.com"}}`, map[string]string{"Coffer-Purpose": pan}, 400},
		// Path ids of missing things.
		{"GET", "/v1/collections/customers/records/" + mail, "", map[string]string{"Coffer-Purpose": "account"}, 404},
		{"PATCH", "/v1/collections/customers/records/" + mail, `{"fields":{"name":"x"}}`, map[string]string{"Coffer-Purpose": "account"}, 404},
		{"DELETE", "/v1/collections/customers/records/" + phone, "", map[string]string{"Coffer-Purpose": "account"}, 404},
		{"DELETE", "/v1/api-keys/" + mail, "", nil, 404},
		{"DELETE", "/v1/tokens/" + pan, "", nil, 404},
		{"GET", "/v1/subjects/" + phone + "/consents", "", nil, 404},
		{"GET", "/v1/requests/" + mail, "", nil, 404},
		{"POST", "/v1/operators/" + mail + "/lock", "", nil, 404},
		// Subject ids: a new subject may not be a phone, card or e-mail.
		{"POST", "/v1/collections/customers/records", `{"subject":"c` + phone + `","fields":{"email":"a@example.com"}}`, map[string]string{"Coffer-Purpose": "account"}, 400},
		{"POST", "/v1/collections/customers/records", `{"subject":"` + mail + `","fields":{"email":"a@example.com"}}`, map[string]string{"Coffer-Purpose": "account"}, 400},
		{"POST", "/v1/requests", `{"kind":"access","subject":"` + mail + `","regime":"gdpr"}`, nil, 400},
		// Other headers: a bearer token, a forwarded address, a user agent.
		{"GET", "/v1/audit", "", map[string]string{"Authorization": "Bearer " + mail, "User-Agent": mail, "X-Forwarded-For": mail}, 401},
		{"GET", "/v1/audit", "", map[string]string{"Authorization": "Bearer coffer_" + phone + "_" + mail}, 401},
		// The query.
		{"GET", "/v1/audit?actor=" + mail + "&subject=" + phone, "", nil, 200},
		{"GET", "/v1/requests?status=" + mail, "", nil, 400},
	} {
		rec := s.call(tc.method, tc.path, tc.body, tc.hdr)
		if rec.Code != tc.want {
			t.Errorf("%s %s: status %d, want %d: %s", tc.method, tc.path[:min(len(tc.path), 60)], rec.Code, tc.want, rec.Body)
		}
		canary.InText(t, "the answer to "+tc.method, rec.Body.String(), mail, phone, pan)
	}
	// A purpose too long to be a name is refused before anything else:
	// not authenticated, not decided, not audited.
	rec = s.call("GET", "/v1/audit", "", map[string]string{"Coffer-Purpose": strings.Repeat("x", 65), "Authorization": "Bearer bogus"})
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Coffer-Purpose: one purpose name") {
		t.Errorf("a 65-byte purpose: %d %s", rec.Code, rec.Body)
	}
	longID := rec.Header().Get("Coffer-Request-Id")
	canary.InDir(t, s.dir, mail, phone, pan) // while the server runs: the WAL holds the latest writes
	es := s.entries()
	hashed := 0
	for _, e := range es {
		b, _ := json.Marshal(e)
		canary.InBytes(t, "audit entry "+e.Action, b, mail, phone, pan)
		if e.RequestID == longID {
			t.Errorf("the request with an oversized purpose was audited: %+v", e)
		}
		if strings.HasPrefix(e.Purpose, "h:") || strings.HasPrefix(e.Record, "h:") {
			hashed++
		}
	}
	if hashed < 3 {
		t.Errorf("%d entries name a hashed purpose or id; want the undeclared purposes and the missing ids", hashed)
	}
	s.close()
	canary.InDir(t, s.dir, mail, phone, pan)
	canary.InText(t, "the log", s.logs.String(), mail, phone, pan)
}

// TestNewSubjectIDShape (issue 15.1): a new subject id follows SPEC §3's
// shape: a letter first, no "@" or ".", no run of 9 or more digits.
func TestNewSubjectIDShape(t *testing.T) {
	s := newHygieneServer(t)
	for subject, want := range map[string]int{
		"cus_1": 201, "a": 201, "Cust-12345678": 201, // 8 digits in a run are fine
		"c123456789": 400, "1abc": 400, "_x": 400, "-x": 400, "a@b": 400, "jane.doe": 400,
	} {
		rec := s.call("POST", "/v1/collections/customers/records", `{"subject":"`+subject+`","fields":{"email":"a@example.com"}}`,
			map[string]string{"Coffer-Purpose": "account"})
		if rec.Code != want {
			t.Errorf("subject %q: %d, want %d: %s", subject, rec.Code, want, rec.Body)
		}
	}
}

// TestRefusalsAreAuditedAndCoalesced (issue 15.2): a 401 (no token, a
// bogus one) and a PATCH or DELETE of an unknown record are audited; a
// flood from one source is one entry written at once and one summary
// counting the rest, with nothing the caller sent.
func TestRefusalsAreAuditedAndCoalesced(t *testing.T) {
	s := newHygieneServer(t)
	for range 5 {
		s.call("GET", "/v1/audit", "", map[string]string{"Authorization": "Bearer coffer_bogus_token"})
	}
	s.call("GET", "/v1/audit", "", map[string]string{"Authorization": ""})
	s.call("PATCH", "/v1/collections/customers/records/rec_missing", `{"fields":{"name":"x"}}`, map[string]string{"Coffer-Purpose": "account"})
	s.call("DELETE", "/v1/collections/customers/records/rec_missing2", "", map[string]string{"Coffer-Purpose": "account"})
	var auth, summaries, update, del int
	for _, e := range s.entries() {
		switch {
		case e.Action == "authenticate" && e.Outcome == coffer.OutcomeDenied && e.Actor == "?":
			auth++
			if strings.Contains(e.Reason, "more refused") {
				summaries++
				if !strings.HasPrefix(e.Reason, "5 more") {
					t.Errorf("summary %q: want the 5 further refusals (4 bogus, 1 missing) counted", e.Reason)
				}
			}
		case e.Action == "update" && e.Outcome == coffer.OutcomeError && e.Record == "rec_missing":
			update++
		case e.Action == "delete" && e.Outcome == coffer.OutcomeError && e.Record == "rec_missing2":
			del++
		}
	}
	if auth != 2 || summaries != 1 {
		t.Errorf("401s: %d entries (%d summaries), want the first and one summary", auth, summaries)
	}
	if update != 1 || del != 1 {
		t.Errorf("unknown records: %d update and %d delete entries, want one each", update, del)
	}
}
