package main

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/client"

	"github.com/pquerna/otp/totp"
)

// enrollOperator creates an operator as admin and enrolls it through its
// link as the operator would (refusing weak first when it is not ""); it
// returns the TOTP secret. The confirmation used the current step's code.
func enrollOperator(t *testing.T, admin *apiClient, username, password, role, weak string) string {
	t.Helper()
	st, m, raw := admin.call("POST", "/v1/operators", "", map[string]any{"username": username, "role": role})
	link, _ := m["enrollment_url"].(string)
	if st != 201 || !strings.HasPrefix(link, admin.addr+"/ui/enroll#token=cofe_") || strings.Contains(raw, "otpauth") {
		t.Fatalf("create operator: %d %s", st, raw)
	}
	anon := &apiClient{t: t, addr: admin.addr}
	token := client.EnrollmentToken(link)
	if weak != "" {
		anon.expect(400, "invalid_argument", "POST", "/v1/enroll", "", map[string]any{"token": token, "password": weak})
	}
	st, m, raw = anon.call("POST", "/v1/enroll", "", map[string]any{"token": token, "password": password})
	uri, _ := m["totp_uri"].(string)
	if st != 200 || !strings.HasPrefix(uri, "otpauth://totp/") {
		t.Fatalf("enroll: %d %s", st, raw)
	}
	u, _ := url.Parse(uri)
	secret := u.Query().Get("secret")
	code, _ := totp.GenerateCode(secret, time.Now())
	if st, _, raw = anon.call("POST", "/v1/enroll/confirm", "", map[string]any{"token": token, "totp": code}); st != 204 {
		t.Fatalf("confirm enrollment: %d %s", st, raw)
	}
	anon.expect(404, "not_found", "POST", "/v1/enroll/confirm", "", map[string]any{"token": token, "totp": code})
	return secret
}

// TestOperatorOverHTTP: an admin creates an operator; the operator logs in
// with password and TOTP, cannot read plaintext before acknowledging the
// security policy, then reads in its role's views, and logs out.
func TestOperatorOverHTTP(t *testing.T) {
	data := t.TempDir()
	addr, token, logs, _ := devServer(t, data)
	admin := &apiClient{t: t, addr: addr, token: token}
	st, m, raw := admin.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": "viewed@example.com", "name": "Viewed Person"}})
	if st != 201 {
		t.Fatal(raw)
	}
	rec := m["id"].(string)

	admin.expect(400, "invalid_argument", "POST", "/v1/operators", "", map[string]any{"username": "alice", "password": "a long enough passphrase", "role": "support"})
	admin.expect(400, "invalid_argument", "POST", "/v1/operators", "", map[string]any{"username": "alice", "role": "nope"})
	secret := enrollOperator(t, admin, "alice", "a long enough passphrase", "support", "qwertyuiop123")
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second)) // the enrollment used this step's code

	anon := &apiClient{t: t, addr: addr}
	anon.expect(400, "invalid_argument", "POST", "/v1/auth/login", "", map[string]any{"username": "alice", "password": "a long enough passphrase", "totp": "12345"})
	anon.expect(401, "unauthenticated", "POST", "/v1/auth/login", "", map[string]any{"username": "alice", "password": "wrong passphrase here", "totp": code})
	st, m, raw = anon.call("POST", "/v1/auth/login", "", map[string]any{"username": "alice", "password": "a long enough passphrase", "totp": code})
	if st != 200 || !strings.HasPrefix(m["token"].(string), "cofs_") {
		t.Fatalf("login: %d %s", st, raw)
	}
	op := &apiClient{t: t, addr: addr, token: m["token"].(string)}
	raw = op.expect(403, "forbidden", "GET", "/v1/collections/customers/records/"+rec, "support", nil)
	if !strings.Contains(raw, "security policy") {
		t.Fatalf("refusal does not say what is missing: %s", raw)
	}
	st, m, _ = op.call("GET", "/v1/security-policy", "", nil)
	if st != 200 || m["version"] == "" {
		t.Fatal("no security policy")
	}
	if st, _, raw = op.call("POST", "/v1/operators/alice/acknowledge-policy", "", map[string]any{"version": m["version"]}); st != 204 {
		t.Fatalf("acknowledge: %d %s", st, raw)
	}
	raw = op.expect(403, "forbidden", "GET", "/v1/collections/customers/records/"+rec, "support", nil)
	if !strings.Contains(raw, "training") {
		t.Fatalf("refusal without training does not say so: %s", raw)
	}
	admin.expect(400, "invalid_argument", "POST", "/v1/operators/alice/training", "", map[string]any{"completed_at": "yesterday"})
	if st, _, raw = admin.call("POST", "/v1/operators/alice/training", "", map[string]any{}); st != 204 {
		t.Fatalf("record training: %d %s", st, raw)
	}
	st, m, raw = op.call("GET", "/v1/collections/customers/records/"+rec, "support", nil)
	if st != 200 || m["fields"].(map[string]any)["email"] != "v*****@e******.com" || m["fields"].(map[string]any)["name"] != "Viewed Person" {
		t.Fatalf("operator read: %d %s", st, raw)
	}
	op.expect(403, "forbidden", "GET", "/v1/operators", "", nil)
	st, _, raw = admin.call("GET", "/v1/operators", "", nil)
	if st != 200 || !strings.Contains(raw, `"mfa_enrolled":true`) || strings.Contains(raw, "argon2") || strings.Contains(raw, "secret") {
		t.Fatalf("list operators: %d %s", st, raw)
	}
	// The CLI verbs: create (prints the enrollment link), list, lock, unlock.
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	code2, out, errs := run(t, env, "", "operators", "create", "bob", "--role", "support")
	if code2 != 0 || !strings.HasPrefix(out, addr+"/ui/enroll#token=cofe_") || !strings.Contains(errs, "single-use enrollment link") {
		t.Fatalf("operators create: %d %s %s", code2, out, errs)
	}
	if st, _, raw = anon.call("POST", "/v1/enroll", "", map[string]any{"token": client.EnrollmentToken(strings.TrimSpace(out)), "password": "another fine passphrase"}); st != 200 {
		t.Fatalf("enroll through the printed link: %d %s", st, raw)
	}
	if code2, out, _ = run(t, env, "", "operators", "list"); code2 != 0 || !strings.Contains(out, `"bob"`) {
		t.Fatalf("operators list: %s", out)
	}
	for _, verb := range []string{"lock", "unlock", "training"} {
		if code2, _, errs = run(t, env, "", "operators", verb, "bob"); code2 != 0 {
			t.Fatalf("operators %s: %s", verb, errs)
		}
	}
	if st, _, raw = op.call("POST", "/v1/auth/logout", "", nil); st != 204 {
		t.Fatalf("logout: %d %s", st, raw)
	}
	op.expect(401, "unauthenticated", "GET", "/v1/collections/customers/records/"+rec, "support", nil)
	if strings.Contains(logs.String(), "a long enough passphrase") || strings.Contains(logs.String(), code) {
		t.Fatal("a password or code reached the logs")
	}
}
