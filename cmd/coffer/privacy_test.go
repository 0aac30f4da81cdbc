package main

import (
	"archive/zip"
	"bytes"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// Canaries of the privacy test's subject: they must be gone from the data
// directory, the logs and every answer once the subject is erased.
var (
	privacyCustomer = map[string]any{
		"email":     "shred.m4k8z@erase-test.example",
		"name":      "Shredname Qvxjplok",
		"phone":     "+44 20 7946 0958",
		"birthdate": "1957-03-19",
		"address":   "Shredlane 9191, Wipetown",
	}
	privacyCardholder = "Shredholder Vwqzmyrt"
	// privacyCanaryStrings are the forms the canaries could take in storage.
	privacyCanaryStrings = []string{"shred.m4k8z", "erase-test.example", "Shredname", "Qvxjplok", "+442079460958", "7946 0958",
		"1957-03-19", "Shredlane", "Wipetown", "Shredholder", "Vwqzmyrt"}
)

// callWith is apiClient.call with extra request headers (Sec-GPC).
func (c *apiClient) callWith(header http.Header, method, path string, body any) (int, map[string]any, string) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.addr+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header = header.Clone()
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

// requestJSON decodes a CLI verb's output (a request) and checks the exit.
func requestJSON(t *testing.T, code int, out, errs string) map[string]any {
	t.Helper()
	var m map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil || !strings.HasPrefix(fmt.Sprint(m["id"]), "req_") {
		t.Fatalf("exit %d, stdout %q, stderr %q: want a request", code, out, errs)
	}
	return m
}

// assertNoPrivacyCanary is assertNoCanary for the privacy test's canaries.
func assertNoPrivacyCanary(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range privacyCanaryStrings {
		if strings.Contains(text, s) {
			t.Errorf("canary %q found in %s", s, where)
		}
	}
}

// readZipCSV returns the rows (header first) of each CSV file of a zip.
func readZipCSV(t *testing.T, path string) map[string][][]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string][][]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(rc).ReadAll()
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		files[f.Name] = rows
	}
	return files
}

// csvColumn returns the values of column name in rows (header first).
func csvColumn(t *testing.T, rows [][]string, name string) []string {
	t.Helper()
	if len(rows) == 0 {
		t.Fatalf("no header looking for %s", name)
	}
	i := slices.Index(rows[0], name)
	if i < 0 {
		t.Fatalf("no column %s in %v", name, rows[0])
	}
	var out []string
	for _, r := range rows[1:] {
		out = append(out, r[i])
	}
	return out
}

// TestPrivacyEndToEnd runs SPEC §9 through the server and the CLI: consent
// (GPC included) gating reads, an access request and its JSON and CSV
// exports with the access history, an erasure that leaves nothing of the
// subject behind, and the refusals of bad input.
func TestPrivacyEndToEnd(t *testing.T) {
	data := t.TempDir()
	addr, token, logs, stop := devServer(t, data)
	c := &apiClient{t: t, addr: addr, token: token}
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	const subj = "cus_privacy"

	// The admin key's id: the actor of the reads in the access history.
	st, m, raw := c.call("GET", "/v1/api-keys", "", nil)
	var adminKey string
	for _, k := range m["keys"].([]any) {
		if k := k.(map[string]any); k["name"] == "dev-admin" {
			adminKey = fmt.Sprint(k["id"])
		}
	}
	if st != 200 || adminKey == "" {
		t.Fatalf("api keys: %d %s", st, raw)
	}

	// The subject's records, in two collections, and another subject's.
	st, m, raw = c.call("POST", "/v1/collections/customers/records", "account", map[string]any{"subject": subj, "fields": privacyCustomer})
	if st != 201 {
		t.Fatalf("create customer: %d %s", st, raw)
	}
	custID := m["id"].(string)
	st, m, raw = c.call("POST", "/v1/collections/payment_methods/records", "billing", map[string]any{"subject": subj, "fields": map[string]any{"cardholder": privacyCardholder}})
	if st != 201 {
		t.Fatalf("create payment method: %d %s", st, raw)
	}
	payID := m["id"].(string)
	st, m, raw = c.call("POST", "/v1/collections/customers/records", "account", map[string]any{"subject": "cus_bystander", "fields": map[string]any{"email": "bystander@keep.example"}})
	if st != 201 {
		t.Fatalf("create bystander: %d %s", st, raw)
	}
	keepID := m["id"].(string)

	// Consent to marketing and to partners (a sale-or-sharing purpose).
	for _, p := range []string{"marketing", "partners"} {
		if st, _, raw = c.call("PUT", "/v1/subjects/"+subj+"/consents/"+p, "", map[string]any{"granted": true, "source": "signup-form", "notice_version": "v3"}); st != 204 {
			t.Fatalf("consent to %s: %d %s", p, st, raw)
		}
	}
	c.expect(400, "invalid_argument", "PUT", "/v1/subjects/"+subj+"/consents/astrology", "", map[string]any{"granted": true})
	c.expect(400, "invalid_argument", "PUT", "/v1/subjects/"+subj+"/consents/marketing", "", map[string]any{"source": "no granted"})

	// Sec-GPC from the operator's own browser on a GET changes nothing
	// (no state change on GET); a consent write carrying "gpc": true, made
	// for the customer's agent, withdraws partners and keeps marketing.
	st, m, raw = c.callWith(http.Header{"Sec-GPC": {"1"}}, "GET", "/v1/subjects/"+subj+"/consents", nil)
	if cur := m["current"].(map[string]any); st != 200 || cur["partners"] != true {
		t.Fatalf("a GET with Sec-GPC: 1 changed consents: %d %s", st, raw)
	}
	if st, _, raw = c.call("PUT", "/v1/subjects/"+subj+"/consents/marketing", "", map[string]any{"granted": true, "source": "signup-form", "notice_version": "v3", "gpc": true}); st != 204 {
		t.Fatalf("consent write with gpc: %d %s", st, raw)
	}
	st, m, raw = c.call("GET", "/v1/subjects/"+subj+"/consents", "", nil)
	if cur := m["current"].(map[string]any); st != 200 || cur["partners"] != false || cur["marketing"] != true {
		t.Fatalf("after a GPC write: current %v, want partners withdrawn and marketing kept: %s", cur, raw)
	}
	if hist := m["history"].([]any); len(hist) != 4 || hist[3].(map[string]any)["source"] != "gpc" || hist[3].(map[string]any)["purpose"] != "partners" {
		t.Fatalf("history does not end with the GPC withdrawal of partners: %s", raw)
	}

	// The same through the CLI: --gpc refuses to grant a sale-or-sharing
	// purpose, and withdraws it again with the next consent write.
	code, _, errs := run(t, env, "", "consents", "set", subj, "partners", "--granted=true", "--gpc")
	if code != 2 || !strings.Contains(errs, "conflict") || !strings.Contains(errs, "Global Privacy Control") {
		t.Fatalf("consents set --gpc granting partners: exit %d, %s", code, errs)
	}
	if code, _, errs = run(t, env, "", "consents", "set", subj, "partners", "--granted=true", "--source", "cli", "--notice-version", "v4"); code != 0 {
		t.Fatalf("consents set: exit %d, %s", code, errs)
	}
	code, out, errs := run(t, env, "", "consents", "get", subj)
	if code != 0 || !strings.Contains(out, `"partners": true`) || !strings.Contains(out, `"notice_version": "v4"`) {
		t.Fatalf("consents get: exit %d, %s %s", code, out, errs)
	}
	code, _, errs = run(t, env, "", "consents", "set", subj, "marketing", "--granted=true", "--gpc")
	if code != 0 {
		t.Fatalf("consents set --gpc: exit %d, %s", code, errs)
	}
	code, out, errs = run(t, env, "", "consents", "get", subj)
	if code != 0 || !strings.Contains(out, `"partners": false`) || !strings.Contains(out, `"marketing": true`) {
		t.Fatalf("consents get after set --gpc: exit %d, %s %s", code, out, errs)
	}
	if code, _, errs = run(t, env, "", "consents", "set", subj, "marketing"); code != 2 || !strings.Contains(errs, "--granted") {
		t.Fatalf("consents set without --granted: exit %d, %s", code, errs)
	}
	if code, _, errs = run(t, env, "", "consents", "set", subj, "astrology", "--granted=false"); code != 2 || !strings.Contains(errs, "invalid_argument") {
		t.Fatalf("consents set of an unknown purpose: exit %d, %s", code, errs)
	}

	// Marketing reads the email only, while the consent lasts.
	st, m, raw = c.call("GET", "/v1/collections/customers/records/"+custID, "marketing", nil)
	if st != 200 {
		t.Fatalf("marketing read: %d %s", st, raw)
	}
	if f := m["fields"].(map[string]any); len(f) != 1 || f["email"] != privacyCustomer["email"] {
		t.Fatalf("marketing read shows %v, want the email only", f)
	}
	if st, _, raw = c.call("GET", "/v1/collections/customers/records/"+custID, "partners", nil); st != 404 { // SPEC §3: like an unknown id
		t.Fatalf("partners read after the GPC withdrawal: %d %s", st, raw)
	}
	if st, _, raw = c.call("PUT", "/v1/subjects/"+subj+"/consents/marketing", "", map[string]any{"granted": false, "source": "unsubscribe-link"}); st != 204 {
		t.Fatalf("withdraw marketing: %d %s", st, raw)
	}
	c.expect(404, "not_found", "GET", "/v1/collections/customers/records/"+custID, "marketing", nil) // consent withdrawn: like an unknown id
	if st, _, raw = c.call("GET", "/v1/collections/payment_methods/records/"+payID, "billing", nil); st != 200 {
		t.Fatalf("billing read: %d %s", st, raw)
	}

	// An access request, created and verified through the CLI.
	code, out, errs = run(t, env, "", "requests", "create", "--kind", "access", "--subject", subj, "--regime", "gdpr")
	access := requestJSON(t, code, out, errs)
	accessID := access["id"].(string)
	if access["status"] != "unverified" || access["kind"] != "access" || access["due_at"] == nil {
		t.Fatalf("created request: %s", out)
	}
	c.expect(409, "conflict", "GET", "/v1/requests/"+accessID+"/export", "", nil)
	code, out, errs = run(t, env, "", "requests", "verify", accessID)
	if r := requestJSON(t, code, out, errs); r["status"] != "open" {
		t.Fatalf("verified request: %s", out)
	}

	// The JSON export: records in plaintext, consent history, requests and
	// who read the subject's data.
	st, m, raw = c.call("GET", "/v1/requests/"+accessID+"/export", "", nil)
	if st != 200 || m["subject"] != subj || m["request"] != accessID {
		t.Fatalf("export: %d %s", st, raw)
	}
	recs := map[string]map[string]any{}
	for _, r := range m["records"].([]any) {
		r := r.(map[string]any)
		recs[r["collection"].(string)+"/"+r["id"].(string)] = r["fields"].(map[string]any)
	}
	if len(recs) != 2 {
		t.Fatalf("export holds %d records, want 2: %s", len(recs), raw)
	}
	cust := recs["customers/"+custID]
	if cust["email"] != privacyCustomer["email"] || cust["name"] != privacyCustomer["name"] || cust["phone"] != "+442079460958" ||
		cust["birthdate"] != privacyCustomer["birthdate"] || cust["address"] != privacyCustomer["address"] {
		t.Fatalf("exported customer record: %v", cust)
	}
	if recs["payment_methods/"+payID]["cardholder"] != privacyCardholder {
		t.Fatalf("exported payment method: %v", recs["payment_methods/"+payID])
	}
	var consentLog []string
	for _, e := range m["consents"].([]any) {
		e := e.(map[string]any)
		consentLog = append(consentLog, fmt.Sprintf("%s=%v/%s", e["purpose"], e["granted"], e["source"]))
	}
	wantConsents := []string{"marketing=true/signup-form", "partners=true/signup-form", "marketing=true/signup-form", "partners=false/gpc",
		"partners=true/cli", "marketing=true/", "partners=false/gpc", "marketing=false/unsubscribe-link"}
	if !slices.Equal(consentLog, wantConsents) {
		t.Errorf("consent history %v, want %v", consentLog, wantConsents)
	}
	if rs := m["requests"].([]any); len(rs) != 1 || rs[0].(map[string]any)["id"] != accessID {
		t.Errorf("export requests: %v", rs)
	}
	var accessLog []string
	for _, a := range m["access_history"].([]any) {
		a := a.(map[string]any)
		if a["actor"] != adminKey || a["role"] != "admin" || a["time"] == "" {
			t.Errorf("access entry without its actor %s in role admin: %v", adminKey, a)
		}
		if a["action"] == "read" {
			accessLog = append(accessLog, fmt.Sprintf("%s %s %s %v %s", a["collection"], a["record"], a["purpose"], a["fields"], a["outcome"]))
		}
	}
	wantAccess := []string{
		"customers " + custID + " marketing [email] allowed",
		"customers " + custID + " partners [] denied",
		"customers " + custID + " marketing [] denied",
		"payment_methods " + payID + " billing [cardholder] allowed",
	}
	if !slices.Equal(accessLog, wantAccess) {
		t.Errorf("access history reads:\n%s\nwant:\n%s", strings.Join(accessLog, "\n"), strings.Join(wantAccess, "\n"))
	}
	if strings.Contains(raw, "bystander") || strings.Contains(raw, keepID) {
		t.Errorf("the export holds another subject's data: %s", raw)
	}

	// The CSV export through the CLI: a zip of four CSV files, 0600.
	outDir := t.TempDir() // not the data dir: the export holds the canaries
	zipPath := filepath.Join(outDir, "export.zip")
	if code, out, errs = run(t, env, "", "requests", "export", accessID, "--format", "csv", "-o", zipPath); code != 0 || out != "" {
		t.Fatalf("requests export --format csv: exit %d, %q %s", code, out, errs)
	}
	if fi, err := os.Stat(zipPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v, want mode 0600", fi, err)
	}
	files := readZipCSV(t, zipPath)
	if len(files) != 4 {
		t.Fatalf("zip holds %d files, want records, consents, requests and access_history", len(files))
	}
	values := csvColumn(t, files["records.csv"], "value")
	for _, want := range []string{privacyCustomer["email"].(string), privacyCustomer["name"].(string), "+442079460958", privacyCustomer["address"].(string), privacyCardholder} {
		if !slices.Contains(values, want) {
			t.Errorf("records.csv lacks %q: %v", want, values)
		}
	}
	if len(values) != 6 {
		t.Errorf("records.csv has %d values, want 6 (5 fields + cardholder)", len(values))
	}
	if got := csvColumn(t, files["consents.csv"], "source"); len(got) != len(wantConsents) || got[len(got)-1] != "unsubscribe-link" {
		t.Errorf("consents.csv sources: %v", got)
	}
	if got := csvColumn(t, files["requests.csv"], "id"); !slices.Equal(got, []string{accessID}) {
		t.Errorf("requests.csv ids: %v", got)
	}
	ah := files["access_history.csv"]
	var csvReads []string
	actors, purposes, fields, actions := csvColumn(t, ah, "actor"), csvColumn(t, ah, "purpose"), csvColumn(t, ah, "fields"), csvColumn(t, ah, "action")
	for i := range actions {
		if actions[i] == "read" {
			csvReads = append(csvReads, actors[i]+" "+purposes[i]+" "+fields[i])
		}
	}
	wantCSV := []string{adminKey + " marketing email", adminKey + " partners ", adminKey + " marketing ", adminKey + " billing cardholder"}
	if !slices.Equal(csvReads, wantCSV) {
		t.Errorf("access_history.csv reads %q, want %q", csvReads, wantCSV)
	}
	// JSON to standard output; a zip is never written to a terminal (a
	// buffer is not one, so the CLI writes it).
	code, out, errs = run(t, env, "", "requests", "export", accessID)
	if code != 0 || !strings.Contains(out, `"request": "`+accessID+`"`) || !strings.Contains(out, privacyCardholder) {
		t.Fatalf("requests export (json): exit %d %.300s %s", code, out, errs)
	}
	if code, out, _ = run(t, env, "", "requests", "export", accessID, "--format", "csv"); code != 0 || !strings.HasPrefix(out, "PK\x03\x04") {
		t.Fatalf("requests export --format csv to a pipe: exit %d, %.20q", code, out)
	}
	if code, _, errs = run(t, env, "", "requests", "export", "req_nope", "--format", "csv", "-o", filepath.Join(outDir, "nope.zip")); code != 2 || !strings.Contains(errs, "not_found") {
		t.Fatalf("export of an unknown request: exit %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(outDir, "nope.zip")); !os.IsNotExist(err) {
		t.Errorf("a failed export left a file: %v", err)
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 1 {
		t.Errorf("export dir holds %d files, want export.zip only", len(ents))
	}

	// Lifecycle through the CLI: start, extend once, complete.
	code, out, errs = run(t, env, "", "requests", "start", accessID)
	if r := requestJSON(t, code, out, errs); r["status"] != "in_progress" {
		t.Fatalf("started request: %s", out)
	}
	code, out, errs = run(t, env, "", "requests", "extend", accessID, "--reason", "many records across systems")
	extended := requestJSON(t, code, out, errs)
	if extended["extended"] != true || fmt.Sprint(extended["due_at"]) <= fmt.Sprint(access["due_at"]) {
		t.Fatalf("extended request: %s (was due %v)", out, access["due_at"])
	}
	raw = c.expect(409, "conflict", "POST", "/v1/requests/"+accessID+"/extend", "", map[string]any{"reason": "again"})
	if code, _, errs = run(t, env, "", "requests", "extend", accessID, "--reason", "again"); code != 2 || !strings.Contains(errs, "conflict") || !strings.Contains(errs, "extended once") {
		t.Fatalf("second extension through the CLI: exit %d %s (server said %s)", code, errs, raw)
	}
	code, out, errs = run(t, env, "", "requests", "get", accessID)
	if r := requestJSON(t, code, out, errs); r["due_at"] != extended["due_at"] || r["status"] != "in_progress" {
		t.Fatalf("a refused extension changed the request: %s", out)
	}
	code, out, errs = run(t, env, "", "requests", "list", "--status", "in_progress")
	if code != 0 || !strings.Contains(out, accessID) {
		t.Fatalf("requests list --status in_progress: exit %d %s %s", code, out, errs)
	}
	code, out, errs = run(t, env, "", "requests", "list", "--status", "denied")
	if code != 0 || !strings.Contains(out, `"requests": []`) {
		t.Fatalf("requests list --status denied (none is): exit %d %s %s", code, out, errs)
	}
	code, out, errs = run(t, env, "", "requests", "list", "--overdue")
	if code != 0 || !strings.Contains(out, `"requests": []`) {
		t.Fatalf("requests list --overdue (nothing is due yet): exit %d %s %s", code, out, errs)
	}
	code, out, errs = run(t, env, "", "requests", "complete", accessID)
	if r := requestJSON(t, code, out, errs); r["status"] != "completed" || r["completed_at"] == nil {
		t.Fatalf("completed request: %s", out)
	}

	// Bad input: clear 4xx, nothing changed.
	c.expect(400, "invalid_argument", "POST", "/v1/requests", "", map[string]any{"kind": "deletion", "subject": subj, "regime": "gdpr"})
	c.expect(400, "invalid_argument", "POST", "/v1/requests", "", map[string]any{"kind": "access", "subject": subj, "regime": "lgpd"})
	if code, _, errs = run(t, env, "", "requests", "create", "--kind", "deletion", "--subject", subj, "--regime", "gdpr"); code != 2 || !strings.Contains(errs, "invalid_argument") || !strings.Contains(errs, "kind") {
		t.Fatalf("requests create --kind deletion: exit %d %s", code, errs)
	}
	c.expect(400, "invalid_argument", "GET", "/v1/requests?status=pending", "", nil)
	c.expect(404, "not_found", "GET", "/v1/requests/req_nope", "", nil)
	// A request for an unknown subject is accepted like any other: the
	// answer does not tell whether the subject exists.
	st, ghost, raw := c.call("POST", "/v1/requests", "", map[string]any{"kind": "access", "subject": "cus_nobody", "regime": "ccpa"})
	if st != 201 || ghost["status"] != "unverified" || ghost["ack_due_at"] == nil {
		t.Fatalf("request for an unknown subject: %d %s", st, raw)
	}
	st, known, raw := c.call("POST", "/v1/requests", "", map[string]any{"kind": "access", "subject": subj, "regime": "ccpa"})
	if st != 201 {
		t.Fatalf("request for a known subject: %d %s", st, raw)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(ghost)), slices.Sorted(maps.Keys(known))) {
		t.Errorf("answers differ for unknown and known subjects: %v vs %v", ghost, known)
	}
	ghostID := ghost["id"].(string)
	c.expect(409, "conflict", "POST", "/v1/requests/"+ghostID+"/extend", "", map[string]any{"reason": "unverified"})
	code, out, errs = run(t, env, "", "requests", "deny", ghostID, "--reason", "identity could not be verified")
	if r := requestJSON(t, code, out, errs); r["status"] != "denied" || r["denial_reason"] != "identity could not be verified" {
		t.Fatalf("denied request: %s", out)
	}
	c.expect(409, "conflict", "POST", "/v1/requests/"+ghostID+"/complete", "", nil)
	c.expect(409, "conflict", "GET", "/v1/requests/"+ghostID+"/export", "", nil)

	// Erasure: create, verify, complete.
	code, out, errs = run(t, env, "", "requests", "create", "--kind", "erasure", "--subject", subj, "--regime", "gdpr")
	erasureID := requestJSON(t, code, out, errs)["id"].(string)
	if code, out, errs = run(t, env, "", "requests", "verify", erasureID); code != 0 {
		t.Fatalf("verify erasure: exit %d %s %s", code, out, errs)
	}
	code, out, errs = run(t, env, "", "requests", "complete", erasureID)
	erased := requestJSON(t, code, out, errs)
	if erased["status"] != "completed" {
		t.Fatalf("completed erasure: %s", out)
	}
	c.expect(409, "conflict", "POST", "/v1/requests/"+erasureID+"/complete", "", nil)
	if code, _, errs = run(t, env, "", "requests", "complete", erasureID); code != 2 || !strings.Contains(errs, "already completed") {
		t.Fatalf("second completion through the CLI: exit %d %s", code, errs)
	}
	st, m, raw = c.call("GET", "/v1/requests/"+erasureID, "", nil)
	if st != 200 || m["completed_at"] != erased["completed_at"] || m["status"] != "completed" {
		t.Fatalf("a refused completion changed the request: %s (was %v)", raw, erased)
	}

	// Nothing of the subject is left to read or find; the bystander stays.
	c.expect(404, "not_found", "GET", "/v1/collections/customers/records/"+custID, "account", nil)
	c.expect(404, "not_found", "GET", "/v1/collections/payment_methods/records/"+payID, "billing", nil)
	for _, where := range []map[string]any{{"email": privacyCustomer["email"]}, {"phone": privacyCustomer["phone"]}} {
		st, m, raw = c.call("POST", "/v1/collections/customers/search", "account", map[string]any{"where": where})
		if st != 200 || len(m["records"].([]any)) != 0 {
			t.Fatalf("search after erasure: %d %s", st, raw)
		}
	}
	if st, _, raw = c.call("GET", "/v1/collections/customers/records/"+keepID, "account", nil); st != 200 {
		t.Fatalf("the bystander's record: %d %s", st, raw)
	}
	// The access request's export now holds no record, but the history of
	// who accessed the data stays.
	st, m, raw = c.call("GET", "/v1/requests/"+accessID+"/export", "", nil)
	if st != 200 || len(m["records"].([]any)) != 0 || len(m["access_history"].([]any)) == 0 {
		t.Fatalf("export after erasure: %d %s", st, raw)
	}
	assertNoPrivacyCanary(t, "the export after erasure", raw)

	// The audit log holds no values and its chain still verifies.
	st, m, raw = c.call("GET", "/v1/audit?subject="+subj+"&limit=1000", "", nil)
	if st != 200 || len(m["entries"].([]any)) < 10 {
		t.Fatalf("audit: %d %.500s", st, raw)
	}
	assertNoPrivacyCanary(t, "the audit log", raw)
	var sawErase bool
	for _, e := range m["entries"].([]any) {
		e := e.(map[string]any)
		sawErase = sawErase || (e["action"] == "request.complete" && e["record"] == erasureID && e["outcome"] == "allowed")
	}
	if !sawErase {
		t.Error("the audit log lacks the erasure's completion")
	}
	st, m, raw = c.call("POST", "/v1/audit/verify", "", nil)
	if st != 200 || m["ok"] != true {
		t.Fatalf("audit verify: %d %s", st, raw)
	}

	// Retention: a dry run reports and deletes nothing.
	code, out, errs = run(t, env, "", "retention", "--dry-run")
	var rep struct {
		DryRun  *bool          `json:"dry_run"`
		Records map[string]int `json:"records"`
		Values  map[string]int `json:"values"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.DryRun == nil || !*rep.DryRun || rep.Records == nil || rep.Values == nil {
		t.Fatalf("retention --dry-run: exit %d %q %s", code, out, errs)
	}
	if st, _, raw = c.call("GET", "/v1/collections/customers/records/"+keepID, "account", nil); st != 200 {
		t.Fatalf("the bystander's record after a dry run: %d %s", st, raw)
	}

	// After a clean stop and a WAL checkpoint, no canary is anywhere in
	// the data directory or the logs.
	stop()
	db, err := sql.Open("sqlite", filepath.Join(data, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	var busy, walPages, moved int
	if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &walPages, &moved); err != nil || busy != 0 {
		t.Fatalf("checkpoint: busy %d, %v", busy, err)
	}
	var subjects int
	if err := db.QueryRow("SELECT count(*) FROM subjects WHERE id = ?", subj).Scan(&subjects); err != nil || subjects != 0 {
		t.Fatalf("subject row (with its DEK) after erasure: %d %v", subjects, err)
	}
	var ledger int
	if err := db.QueryRow("SELECT count(*) FROM erasure_ledger").Scan(&ledger); err != nil || ledger != 1 {
		t.Fatalf("erasure ledger entries: %d %v, want 1", ledger, err)
	}
	db.Close()
	assertAbsent(t, data, logs.String(), privacyCanaryStrings...)
}
