package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// Canary values: planted through the API, they must never show up in the
// data directory's files, the logs, an error message or the audit log.
var canaries = map[string]any{
	"email":     "canary.q7x2v@leak-test.example",
	"name":      "Canaryname Zyxwvuts",
	"phone":     "+44 20 7946 0321",
	"birthdate": "1961-07-23",
	"address":   "Canarystreet 4242, Leakville",
}

// canaryStrings are the forms a canary could take in storage.
var canaryStrings = []string{"canary.q7x2v", "leak-test.example", "Canaryname", "Zyxwvuts", "+442079460321", "7946 0321", "1961-07-23", "Canarystreet", "Leakville"}

type apiClient struct {
	t     *testing.T
	addr  string
	token string
}

func (c *apiClient) call(method, path, purpose string, body any) (int, map[string]any, string) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.addr+path, rd)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if purpose != "" {
		req.Header.Set("Coffer-Purpose", purpose)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Coffer-Request-Id") == "" {
		c.t.Errorf("%s %s: no Coffer-Request-Id", method, path)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

// rawCall makes an authenticated GET and returns the response, body read.
func (c *apiClient) rawCall(method, path string) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// expect makes a call and checks that it is refused with status and code.
func (c *apiClient) expect(status int, code, method, path, purpose string, body any) string {
	c.t.Helper()
	st, m, raw := c.call(method, path, purpose, body)
	c.expectError(status, code, st, m, raw)
	return raw
}

// expectError checks an error answer's status, code and shape.
func (c *apiClient) expectError(status int, code string, got int, m map[string]any, raw string) {
	c.t.Helper()
	e, _ := m["error"].(map[string]any)
	if got != status || e == nil || e["code"] != code || e["message"] == "" || !strings.HasPrefix(fmt.Sprint(e["request_id"]), "req_") {
		c.t.Fatalf("got %d %s, want %d %s", got, raw, status, code)
	}
	for _, s := range canaryStrings {
		if strings.Contains(raw, s) {
			c.t.Fatalf("error answer echoes a value: %s", raw)
		}
	}
}

func TestEndToEnd(t *testing.T) {
	data := t.TempDir()
	addr, token, logs, stop := devServer(t, data)
	c := &apiClient{t: t, addr: addr, token: token}

	st, m, raw := c.call("GET", "/v1/health", "", nil)
	if st != 200 || m["status"] != "ok" || m["sealed"] != false {
		t.Fatalf("health: %d %s", st, raw)
	}

	// Create, read, search.
	st, m, raw = c.call("POST", "/v1/collections/customers/records", "account", map[string]any{"subject": "cus_e2e", "fields": canaries})
	if st != 201 || !strings.HasPrefix(fmt.Sprint(m["id"]), "rec_") || m["subject"] != "cus_e2e" {
		t.Fatalf("create: %d %s", st, raw)
	}
	id := m["id"].(string)
	st, m, raw = c.call("GET", "/v1/collections/customers/records/"+id, "account", nil)
	if st != 200 {
		t.Fatalf("get: %d %s", st, raw)
	}
	fields := m["fields"].(map[string]any)
	if fields["email"] != canaries["email"] || fields["phone"] != "+442079460321" || fields["name"] != canaries["name"] || len(m["withheld"].([]any)) != 0 {
		t.Fatalf("get returned %s", raw)
	}
	// For support, birthdate and address are not collected: withheld.
	st, m, raw = c.call("GET", "/v1/collections/customers/records/"+id, "support", nil)
	if st != 200 || fmt.Sprint(m["withheld"]) != "[birthdate address]" {
		t.Fatalf("support read: %d %s", st, raw)
	}
	st, m, raw = c.call("POST", "/v1/collections/customers/search", "account", map[string]any{"where": map[string]any{"email": "CANARY.q7x2v@LEAK-TEST.example"}})
	if st != 200 || len(m["records"].([]any)) != 1 {
		t.Fatalf("search by email is case-insensitive: got %d %s", st, raw)
	}
	st, m, raw = c.call("POST", "/v1/collections/customers/search", "account", map[string]any{"where": map[string]any{"email": "canary.q7x2v@leak-test.exampl"}})
	if st != 200 || len(m["records"].([]any)) != 0 {
		t.Fatalf("search is exact: %d %s", st, raw)
	}
	st, m, raw = c.call("POST", "/v1/collections/customers/search", "support", map[string]any{"where": map[string]any{"phone": "+44 20 7946 0321", "email": canaries["email"]}})
	if st != 200 || len(m["records"].([]any)) != 1 {
		t.Fatalf("search by phone and email: %d %s", st, raw)
	}

	// Patch: change one field, remove another.
	st, m, raw = c.call("PATCH", "/v1/collections/customers/records/"+id, "account", map[string]any{"fields": map[string]any{"name": "Canaryname Changed", "address": nil}})
	if st != 200 || m["fields"].(map[string]any)["name"] != "Canaryname Changed" || m["fields"].(map[string]any)["address"] != nil {
		t.Fatalf("patch: %d %s", st, raw)
	}

	// Bad input: each is refused with the right code and changes nothing.
	bad := canaries["email"].(string) + "x"
	valid := func(email string) map[string]any {
		return map[string]any{"fields": map[string]any{"email": email, "name": "Canaryname Bad"}}
	}
	c.expect(400, "purpose_required", "POST", "/v1/collections/customers/records", "", valid(bad))
	c.expect(422, "schema_violation", "POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": bad, "shoe_size": 44}})
	c.expect(422, "schema_violation", "POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"name": "no email"}})
	st, m, raw = c.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": "Canaryname-not-an-email"}})
	c.expectError(400, "invalid_argument", st, m, raw)
	if !strings.Contains(raw, "email") {
		t.Errorf("invalid value error does not name the field: %s", raw)
	}
	c.expect(400, "invalid_argument", "POST", "/v1/collections/customers/records", "account", `{"fields":{"email":`)
	c.expect(400, "invalid_argument", "POST", "/v1/collections/customers/records", "account", []byte("{\"fields\":{\"email\":\"a\xff@b.co\"}}"))
	c.expect(400, "invalid_argument", "POST", "/v1/collections/customers/records", "account", `{"fields":{"email":42}}`)
	c.expect(400, "invalid_argument", "POST", "/v1/collections/customers/records", "account", `{"subject":["x"],"fields":{}}`)
	c.expect(400, "invalid_argument", "POST", "/v1/collections/customers/records", "account", map[string]any{"subject": "me@example.com", "fields": map[string]any{"email": bad}})
	c.expect(413, "payload_too_large", "POST", "/v1/collections/customers/records", "account", `{"fields":{"name":"`+strings.Repeat("a", 2<<20)+`"}}`)
	c.expect(404, "not_found", "POST", "/v1/collections/nope/records", "account", valid(bad))
	c.expect(400, "invalid_argument", "POST", "/v1/collections/customers/records", "fun", valid(bad))
	// Batch: one bad record refuses the whole batch.
	c.expect(400, "invalid_argument", "POST", "/v1/collections/customers/records/batch", "account", map[string]any{"records": []any{valid(bad), valid("not-an-email")}})
	anon := &apiClient{t: t, addr: addr}
	anon.expect(401, "unauthenticated", "GET", "/v1/collections/customers/records/"+id, "account", nil)
	wrong := &apiClient{t: t, addr: addr, token: token[:len(token)-2] + "xx"}
	wrong.expect(401, "unauthenticated", "GET", "/v1/collections/customers/records/"+id, "account", nil)
	// None of the refused requests wrote anything.
	st, m, raw = c.call("POST", "/v1/collections/customers/search", "account", map[string]any{"where": map[string]any{"email": bad}})
	if st != 200 || len(m["records"].([]any)) != 0 {
		t.Fatalf("a refused request wrote a record: %s", raw)
	}

	// Batch create, all or nothing.
	var batch []any
	for i := range 3 {
		batch = append(batch, map[string]any{"subject": fmt.Sprintf("cus_b%d", i), "fields": map[string]any{"email": fmt.Sprintf("b%d@batch.example", i)}})
	}
	st, m, raw = c.call("POST", "/v1/collections/customers/records/batch", "account", map[string]any{"records": batch})
	if st != 201 || len(m["records"].([]any)) != 3 {
		t.Fatalf("batch: %d %s", st, raw)
	}

	// Delete.
	if st, _, raw = c.call("DELETE", "/v1/collections/customers/records/"+id, "account", nil); st != 204 {
		t.Fatalf("delete: %d %s", st, raw)
	}
	c.expect(404, "not_found", "GET", "/v1/collections/customers/records/"+id, "account", nil)

	// The audit log names actions and fields, never values.
	st, m, raw = c.call("GET", "/v1/audit?limit=1000", "", nil)
	if st != 200 || len(m["entries"].([]any)) < 10 {
		t.Fatalf("audit: %d %s", st, raw)
	}
	var sawDenied, sawRead bool
	for _, e := range m["entries"].([]any) {
		e := e.(map[string]any)
		sawDenied = sawDenied || e["outcome"] == "denied"
		sawRead = sawRead || (e["action"] == "read" && e["record"] == id && e["client_ip"] == "127.0.0.1")
	}
	if !sawDenied || !sawRead {
		t.Errorf("audit lacks a denied entry (%v) or the read of %s (%v)", sawDenied, id, sawRead)
	}
	st, m, raw = c.call("POST", "/v1/audit/verify", "", nil)
	if st != 200 || m["ok"] != true {
		t.Fatalf("audit verify: %d %s", st, raw)
	}

	// The CLI client verbs.
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	code, out, errs := run(t, env, "", "records", "put", "-p", "account", "-s", "cus_cli", "email=cli@cli.example", "name=Cli Person")
	if code != 0 || !strings.Contains(out, `"rec_`) {
		t.Fatalf("records put: %d %s %s", code, out, errs)
	}
	var created struct{ ID string }
	json.Unmarshal([]byte(out), &created)
	code, out, errs = run(t, env, "", "records", "get", "-p", "support", created.ID)
	if code != 0 || !strings.Contains(out, `"cli@cli.example"`) || !strings.Contains(out, "Cli Person") {
		t.Fatalf("records get: %d %s %s", code, out, errs)
	}
	code, out, errs = run(t, env, "", "records", "search", "-p", "account", "email=cli@cli.example")
	if code != 0 || !strings.Contains(out, created.ID) {
		t.Fatalf("records search: %d %s %s", code, out, errs)
	}
	code, _, errs = run(t, env, "", "records", "get", "-p", "account", "rec_missing")
	if code != 2 || !strings.Contains(errs, "not_found") {
		t.Fatalf("records get of a missing record: %d %s", code, errs)
	}

	// While the server runs, keys are minted through its API (the offline
	// verb refuses: TestOneServerPerDataDir).
	st, m, raw = c.call("POST", "/v1/api-keys", "", map[string]any{"name": "support-desk", "role": "support"})
	if st != 201 {
		t.Fatalf("create the support key: %d %s", st, raw)
	}
	sup := &apiClient{t: t, addr: addr, token: m["key"].(string)}
	if st, m, raw = sup.call("POST", "/v1/collections/customers/search", "support", map[string]any{"where": map[string]any{"email": "cli@cli.example"}}); st != 200 || len(m["records"].([]any)) != 1 {
		t.Fatalf("search with the new support key: %d %s", st, raw)
	}
	sup.expect(403, "forbidden", "GET", "/v1/audit", "", nil)
	sup.expect(403, "forbidden", "GET", "/v1/api-keys", "", nil)

	// Listing shows the keys without their hashes; revoking one locks it out.
	code, out, errs = run(t, env, "", "api-key", "list")
	if code != 0 || !strings.Contains(out, `"support-desk"`) || !strings.Contains(out, `"dev-admin"`) || strings.Contains(out, "hash") ||
		strings.Count(out, `"last_used_at"`) < 2 {
		t.Fatalf("api-key list: %d %s %s", code, out, errs)
	}
	var listed struct {
		Keys []struct{ ID, Name string }
	}
	json.Unmarshal([]byte(out), &listed)
	var supID string
	for _, k := range listed.Keys {
		if k.Name == "support-desk" {
			supID = k.ID
		}
	}
	if code, _, errs = run(t, env, "", "api-key", "revoke", supID); code != 0 {
		t.Fatalf("api-key revoke: %d %s", code, errs)
	}
	sup.expect(401, "unauthenticated", "POST", "/v1/collections/customers/search", "support", map[string]any{"where": map[string]any{"email": "cli@cli.example"}})

	// Metrics are labelled by route pattern, never by path or id; they are
	// served to a role with the metrics grant only.
	(&apiClient{t: t, addr: addr}).expect(401, "unauthenticated", "GET", "/metrics", "", nil)
	c.expect(403, "forbidden", "GET", "/metrics", "", nil) // admin does not imply it
	st, m, raw = c.call("POST", "/v1/api-keys", "", map[string]any{"name": "scraper", "role": "monitoring"})
	if st != 201 {
		t.Fatalf("create the monitoring key: %d %s", st, raw)
	}
	scraper := &apiClient{t: t, addr: addr, token: m["key"].(string)}
	st, _, metrics := scraper.call("GET", "/metrics", "", nil)
	if st != 200 {
		t.Fatalf("metrics for the monitoring key: %d %.300s", st, metrics)
	}
	if !strings.Contains(string(metrics), `coffer_http_requests_total{code="200",route="GET /v1/collections/{c}/records/{id}"}`) ||
		!strings.Contains(string(metrics), "coffer_store_commits_total") {
		t.Errorf("metrics lack the route-labelled counters:\n%.2000s", metrics)
	}
	if strings.Contains(string(metrics), id) || strings.Contains(string(metrics), "cus_e2e") {
		t.Error("metrics hold a record or subject id")
	}
	for _, s := range canaryStrings {
		if strings.Contains(string(metrics), s) {
			t.Errorf("metrics hold canary %q", s)
		}
	}

	stop()
	code, out, errs = run(t, nil, "", "audit", "verify", "--data", data)
	if code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("audit verify: %d %s %s", code, out, errs)
	}

	// Never leak: no canary in any file of the data dir (database, WAL,
	// shm, keys) nor in the server's logs.
	assertNoCanary(t, data, logs.String())
}

func assertNoCanary(t *testing.T, dir, logs string) {
	t.Helper()
	assertAbsent(t, dir, logs, canaryStrings...)
}

// assertAbsent fails when a needle is in a file under dir or in logs.
func assertAbsent(t *testing.T, dir, logs string, needles ...string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range needles {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("canary %q found in %s", s, path)
			}
		}
		return nil
	})
	for _, s := range needles {
		if strings.Contains(logs, s) {
			t.Errorf("canary %q found in the logs", s)
		}
	}
}

// TestAuditVerifyDetectsTampering edits, deletes and reorders entries of a
// real database and checks that `coffer audit verify` names the first bad
// sequence number and exits 1.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	src := t.TempDir()
	addr, token, _, stop := devServer(t, src)
	c := &apiClient{t: t, addr: addr, token: token}
	for i := range 8 {
		if st, _, raw := c.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": fmt.Sprintf("t%d@tamper.example", i)}}); st != 201 {
			t.Fatal(raw)
		}
	}
	stop()

	tests := []struct {
		name    string
		sql     string
		wantSeq string
	}{
		{"edit an entry", `UPDATE audit SET actor = 'key_someone_else' WHERE seq = 5`, "seq 5"},
		{"edit the purpose", `UPDATE audit SET purpose = 'marketing' WHERE seq = 7`, "seq 7"},
		{"delete an entry", `DELETE FROM audit WHERE seq = 4`, "seq 4"},
		{"reorder two entries", `UPDATE audit SET seq = -3 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 6; UPDATE audit SET seq = 6 WHERE seq = -3`, "seq 3"},
		{"truncate the end", `DELETE FROM audit WHERE seq > 6`, "seq 7"},
		{"truncate and remove the head", `DELETE FROM audit WHERE seq > 6; DELETE FROM audit_head`, "seq 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			for _, f := range []string{"coffer.db", "keys.json"} {
				b, err := os.ReadFile(filepath.Join(src, f))
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(data, f), b, 0o600)
			}
			if code, out, errs := run(t, nil, "", "audit", "verify", "--data", data); code != 0 {
				t.Fatalf("untouched copy: %d %s %s", code, out, errs)
			}
			db, err := sql.Open("sqlite", filepath.Join(data, "coffer.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tt.sql); err != nil {
				t.Fatal(err)
			}
			db.Close()
			code, out, errs := run(t, nil, "", "audit", "verify", "--data", data)
			if code != 1 || !strings.Contains(out, "broken at "+tt.wantSeq+":") {
				t.Fatalf("got exit %d: %s %s; want 1 naming %s", code, out, errs, tt.wantSeq)
			}
		})
	}
}
