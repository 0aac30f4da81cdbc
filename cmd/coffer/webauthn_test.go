package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// chromium returns the browser for the WebAuthn test. .ci/run installs
// Debian's chromium and sets COFFER_REQUIRE_BROWSER, so a missing browser
// fails there instead of skipping.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("COFFER_CHROMIUM"), "/usr/lib/chromium/chromium", "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("COFFER_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium not found (apt-get install chromium, or set COFFER_CHROMIUM)")
	}
	t.Skip("chromium not installed; .ci/run installs it")
	return ""
}

// TestWebAuthnWithVirtualAuthenticator registers a security key for an
// operator and logs in with it, in Chromium with its virtual authenticator:
// the ceremonies run in the page through navigator.credentials against the
// server's endpoints, exactly as a browser console would run them.
func TestWebAuthnWithVirtualAuthenticator(t *testing.T) {
	exe := chromium(t)
	data := t.TempDir()
	addr, token, logs, _ := devServer(t, data)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(addr, "http://"))
	origin := "http://localhost:" + port // the dev server's relying party is localhost

	admin := &apiClient{t: t, addr: addr, token: token}
	const password = "correct horse battery staple 42"
	secret := enrollOperator(t, admin, "alice", password, "support", "")
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second)) // the enrollment used this step's code
	anon := &apiClient{t: t, addr: addr}
	// Before any registration, WebAuthn login is refused with a clear 400.
	raw := anon.expect(400, "invalid_argument", "POST", "/v1/auth/webauthn/login/begin", "", map[string]any{"username": "alice", "password": password})
	if !strings.Contains(raw, "no WebAuthn authenticator") {
		t.Fatalf("login before registration: %s", raw)
	}
	st, m, raw := anon.call("POST", "/v1/auth/login", "", map[string]any{"username": "alice", "password": password, "totp": code})
	if st != 200 {
		t.Fatalf("TOTP login: %d %s", st, raw)
	}
	session := m["token"].(string)
	// An API key is not an operator: it cannot register an authenticator.
	admin.expect(403, "forbidden", "POST", "/v1/auth/webauthn/register/begin", "", nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-gpu", true))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	err := chromedp.Do(bctx,
		// The API's pages forbid scripts and fetches (CSP); the test plays
		// a console page, so it lifts the CSP before loading one.
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}); err != nil {
				return err
			}
			if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
				return err
			}
			_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportUsb,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			}})
			return err
		}),
		chromedp.Navigate(origin+"/v1/health"),
	)
	if err != nil {
		t.Fatalf("browser set-up (%s): %v", origin, err)
	}
	eval := func(js string) string {
		t.Helper()
		out, err := chromedp.Run(bctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("page script: %v", err)
		}
		return out
	}
	sessionJS, _ := json.Marshal(session)
	got := eval(`(async () => {
		const h = {'Authorization': 'Bearer ' + ` + string(sessionJS) + `, 'Content-Type': 'application/json'};
		let r = await fetch('/v1/auth/webauthn/register/begin', {method: 'POST', headers: h, body: '{}'});
		if (!r.ok) return 'begin ' + r.status + ' ' + await r.text();
		const o = await r.json();
		const cred = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(o.publicKey)});
		r = await fetch('/v1/auth/webauthn/register/finish', {method: 'POST', headers: h, body: JSON.stringify({credential: cred.toJSON()})});
		return 'finish ' + r.status + ' ' + await r.text();
	})()`)
	if got != "finish 204 " {
		t.Fatalf("registration: %s", got)
	}

	passJS, _ := json.Marshal(password)
	loginJS := `(async () => {
		const h = {'Content-Type': 'application/json'};
		let r = await fetch('/v1/auth/webauthn/login/begin', {method: 'POST', headers: h, body: JSON.stringify({username: 'alice', password: ` + string(passJS) + `})});
		if (!r.ok) return JSON.stringify({error: 'begin ' + r.status + ' ' + await r.text()});
		const o = await r.json();
		const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o.publicKey)});
		const assertion = cred.toJSON();
		r = await fetch('/v1/auth/webauthn/login/finish', {method: 'POST', headers: h, body: JSON.stringify({username: 'alice', credential: assertion})});
		return JSON.stringify({status: r.status, body: await r.json(), assertion: assertion});
	})()`
	var res struct {
		Error     string
		Status    int
		Body      map[string]any
		Assertion json.RawMessage
	}
	if err := json.Unmarshal([]byte(eval(loginJS)), &res); err != nil || res.Status != 200 {
		t.Fatalf("WebAuthn login: %v %+v", err, res)
	}
	waSession, _ := res.Body["token"].(string)
	if !strings.HasPrefix(waSession, "cofs_") {
		t.Fatalf("WebAuthn login gave no session: %+v", res.Body)
	}
	op := &apiClient{t: t, addr: addr, token: waSession}
	if st, _, raw = op.call("GET", "/v1/security-policy", "", nil); st != 200 {
		t.Fatalf("session from WebAuthn login does not work: %d %s", st, raw)
	}

	// The same assertion again: its challenge was used up (400), and against
	// a fresh challenge it does not verify (401): the signature covers the
	// old one.
	anon.expect(400, "invalid_argument", "POST", "/v1/auth/webauthn/login/finish", "", map[string]any{"username": "alice", "credential": res.Assertion})
	if st, _, raw = anon.call("POST", "/v1/auth/webauthn/login/begin", "", map[string]any{"username": "alice", "password": password}); st != 200 {
		t.Fatalf("login begin: %d %s", st, raw)
	}
	anon.expect(401, "unauthenticated", "POST", "/v1/auth/webauthn/login/finish", "", map[string]any{"username": "alice", "credential": res.Assertion})
	// A wrong password never reaches the authenticator.
	anon.expect(401, "unauthenticated", "POST", "/v1/auth/webauthn/login/begin", "", map[string]any{"username": "alice", "password": "not the password at all"})
	anon.expect(400, "invalid_argument", "POST", "/v1/auth/webauthn/login/finish", "", map[string]any{"username": "alice"})
	anon.expect(400, "invalid_argument", "POST", "/v1/auth/webauthn/login/finish", "", map[string]any{"username": "alice", "credential": map[string]any{"id": 5}})

	// And a second browser login still works (sign counter kept).
	var res2 struct {
		Error  string
		Status int
		Body   map[string]any
	}
	if err := json.Unmarshal([]byte(eval(loginJS)), &res2); err != nil || res2.Error != "" || res2.Status != 200 {
		t.Fatalf("second WebAuthn login: %v %+v", err, res2)
	}
	if tok, _ := res2.Body["token"].(string); !strings.HasPrefix(tok, "cofs_") || tok == waSession {
		t.Fatalf("second WebAuthn login gave no new session: %+v", res2.Body)
	}

	// Every step is in the audit log.
	st, _, raw = admin.call("GET", "/v1/audit?limit=200", "", nil)
	if st != 200 || !strings.Contains(raw, `"action":"webauthn.register"`) {
		t.Fatalf("audit lacks the registration: %d", st)
	}
	if strings.Count(raw, "WebAuthn assertion did not verify") < 1 {
		t.Fatalf("audit lacks the refused assertion")
	}
	for _, secret := range []string{session, waSession, password} {
		if strings.Contains(raw, secret) || strings.Contains(logs.String(), secret) {
			t.Fatal("a session token or password leaked into the audit log or logs")
		}
	}
}
