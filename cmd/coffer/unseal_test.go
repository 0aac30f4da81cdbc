package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/schema"
	"github.com/pquerna/otp/totp"
)

const testPassphrase = "correct horse battery staple"

var (
	adminKeyRE = regexp.MustCompile(`(?m)^admin API key: (\S+)$`)
	shareRE    = regexp.MustCompile(`(?m)^share (\d+): (\S+)$`)
)

// initData runs coffer init into a fresh directory and returns it and
// what init printed on standard output.
func initData(t *testing.T, stdin string, args ...string) (dir, out string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "coffer")
	code, out, errs := run(t, nil, stdin, append([]string{"init", "--data", dir}, args...)...)
	if code != 0 {
		t.Fatalf("coffer init %v: exit %d\n%s%s", args, code, out, errs)
	}
	return dir, out
}

func adminKey(t *testing.T, initOut string) string {
	t.Helper()
	m := adminKeyRE.FindStringSubmatch(initOut)
	if m == nil {
		t.Fatalf("coffer init printed no admin API key line:\n%s", initOut)
	}
	return m[1]
}

// call makes a raw HTTP call and returns its status and error code.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Coffer-Purpose", "account")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error.Code
}

func health(t *testing.T, addr string) (sealed bool) {
	t.Helper()
	h, err := testClient(t, addr, "").System().Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h.Sealed
}

const record = `{"subject":"cus_1","fields":{"email":"ada@example.com","name":"Ada"}}`

func TestPassphraseServerStartsSealedAndUnseals(t *testing.T) {
	dir, out := initData(t, testPassphrase+"\n", "--provider", "passphrase")
	token := adminKey(t, out)
	_, addr, _ := serveLines(t, "--config", filepath.Join(dir, "coffer.yaml"), "--addr", "127.0.0.1:0")
	ctx := context.Background()

	// Sealed: health says so, everything else answers 503 sealed.
	if !health(t, addr) {
		t.Fatal("a passphrase server did not start sealed")
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/ready", ""},
		{"POST", "/v1/collections/customers/records", record},
		{"GET", "/v1/api-keys", ""},
		{"POST", "/v1/sys/seal", ""},
		{"GET", "/openapi.json", ""},
		{"GET", "/v1/no-such-call", ""},
	} {
		if st, code := call(t, c.method, addr+c.path, token, c.body); st != 503 || code != "sealed" {
			t.Errorf("sealed: %s %s: %d %q, want 503 sealed", c.method, c.path, st, code)
		}
	}
	// A wrong passphrase through the API is refused and leaves it sealed.
	if st, code := call(t, "POST", addr+"/v1/sys/unseal", "", `{"passphrase":"wrong horse"}`); st != 401 || code != "unauthenticated" {
		t.Fatalf("wrong passphrase: %d %q", st, code)
	}
	if !health(t, addr) {
		t.Fatal("a wrong passphrase unsealed the server")
	}
	// coffer unseal reads the passphrase from standard input.
	start := time.Now()
	code, _, errs := run(t, map[string]string{"COFFER_ADDR": addr}, testPassphrase+"\n", "unseal")
	took := time.Since(start)
	if code != 0 || !strings.Contains(errs, "unsealed") {
		t.Fatalf("coffer unseal: exit %d %s", code, errs)
	}
	t.Logf("unseal (argon2id, then the store opens) took %v", took)
	if health(t, addr) {
		t.Fatal("still sealed after coffer unseal")
	}
	cl := testClient(t, addr, token) // the key init printed works
	if err := cl.System().Ready(ctx); err != nil {
		t.Fatalf("ready after unseal: %v", err)
	}
	created, err := cl.Records().Create(ctx, "account", "customers", client.NewRecord{Subject: "cus_1", Fields: map[string]any{"email": "ada@example.com"}})
	if err != nil {
		t.Fatal(err)
	}

	// Only an administrator seals.
	if st, code := call(t, "POST", addr+"/v1/sys/seal", "", ""); st != 401 || code != "unauthenticated" {
		t.Fatalf("seal without a token: %d %q", st, code)
	}
	support, err := cl.APIKeys().Create(ctx, client.NewAPIKey{Name: "support", Role: "support"})
	if err != nil {
		t.Fatal(err)
	}
	if st, code := call(t, "POST", addr+"/v1/sys/seal", support.Key, ""); st != 403 || code != "forbidden" || health(t, addr) {
		t.Fatalf("seal by a support key: %d %q", st, code)
	}

	// Seal: data calls answer 503 sealed, then the API unseals again.
	st, err := cl.System().Seal(ctx)
	if err != nil || !st.Sealed {
		t.Fatalf("seal: %+v %v", st, err)
	}
	if !health(t, addr) {
		t.Fatal("health does not say sealed after POST /v1/sys/seal")
	}
	if _, err := cl.Records().Get(ctx, "account", "customers", created.ID); !isCode(err, "sealed", 503) {
		t.Fatalf("a data call after seal: %v, want 503 sealed", err)
	}
	if err := cl.System().Ready(ctx); !isCode(err, "sealed", 503) {
		t.Fatalf("ready after seal: %v", err)
	}
	start = time.Now()
	us, err := testClient(t, addr, "").System().Unseal(ctx, client.UnsealInput{Passphrase: testPassphrase})
	if err != nil || us.Sealed {
		t.Fatalf("unseal through the API: %+v %v", us, err)
	}
	t.Logf("unseal through the API after a seal (argon2id only) took %v", time.Since(start))
	rec, err := cl.Records().Get(ctx, "account", "customers", created.ID)
	if err != nil || string(rec.Fields["email"]) != `"ada@example.com"` {
		t.Fatalf("the record after seal and unseal: %+v %v", rec, err)
	}
}

func isCode(err error, code string, status int) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Code == code && e.Status == status
}

func TestShamirOpensWithAnyThreeRefusesTwo(t *testing.T) {
	dir, out := initData(t, "", "--provider", "shamir", "--shares", "5", "--threshold", "3")
	token := adminKey(t, out)
	var shares []string
	for i, m := range shareRE.FindAllStringSubmatch(out, -1) {
		if m[1] != string(rune('1'+i)) {
			t.Fatalf("share lines out of order: %q", m[0])
		}
		shares = append(shares, m[2])
	}
	if len(shares) != 5 {
		t.Fatalf("coffer init printed %d shares, want 5:\n%s", len(shares), out)
	}
	_, addr, _ := serveLines(t, "--config", filepath.Join(dir, "coffer.yaml"), "--addr", "127.0.0.1:0")
	ctx := context.Background()
	sys := testClient(t, addr, "").System()
	cl := testClient(t, addr, token)
	for _, combo := range [][]int{{0, 1, 2}, {4, 2, 3}, {0, 4, 2}, {3, 1, 0}} {
		for i, s := range combo[:2] {
			st, err := sys.Unseal(ctx, client.UnsealInput{Share: shares[s]})
			if err != nil || !st.Sealed || st.Progress != string(rune('1'+i))+"/3" {
				t.Fatalf("shares %v, share %d: %+v %v", combo, i+1, st, err)
			}
		}
		// Two shares open nothing.
		if !health(t, addr) {
			t.Fatalf("shares %v: two of three unsealed", combo)
		}
		if s, code := call(t, "GET", addr+"/v1/api-keys", token, ""); s != 503 || code != "sealed" {
			t.Fatalf("shares %v: with two shares a call answers %d %q", combo, s, code)
		}
		// The third share (through coffer unseal, as init printed it) opens.
		code, _, errs := run(t, map[string]string{"COFFER_ADDR": addr}, "share "+string(rune('1'+combo[2]))+": "+shares[combo[2]]+"\n", "unseal")
		if code != 0 || health(t, addr) {
			t.Fatalf("shares %v: the third share did not unseal: exit %d %s", combo, code, errs)
		}
		if _, err := cl.APIKeys().List(ctx); err != nil {
			t.Fatalf("shares %v: after unseal: %v", combo, err)
		}
		if code, _, errs := run(t, map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}, "", "seal"); code != 0 || !health(t, addr) {
			t.Fatalf("coffer seal: exit %d %s", code, errs)
		}
	}
	// A wrong combination (a share altered, its checksum made to match) is
	// refused after the third input and resets the progress.
	for _, sh := range []string{shares[0], shares[1]} {
		if _, err := sys.Unseal(ctx, client.UnsealInput{Share: sh}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sys.Unseal(ctx, client.UnsealInput{Share: alterShare(t, shares[2])}); !isCode(err, "unauthenticated", 401) {
		t.Fatalf("a wrong combination: %v", err)
	}
	if st, err := sys.Unseal(ctx, client.UnsealInput{Share: shares[3]}); err != nil || st.Progress != "1/3" || !st.Sealed {
		t.Fatalf("after a wrong combination the progress did not reset: %+v %v", st, err)
	}
	sys.Unseal(ctx, client.UnsealInput{Share: shares[4]})
	if st, err := sys.Unseal(ctx, client.UnsealInput{Share: shares[0]}); err != nil || st.Sealed {
		t.Fatalf("three good shares after a reset: %+v %v", st, err)
	}
	if _, err := cl.System().Seal(ctx); err != nil {
		t.Fatal(err)
	}
	// A share given twice does not count twice.
	if _, err := sys.Unseal(ctx, client.UnsealInput{Share: shares[1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Unseal(ctx, client.UnsealInput{Share: shares[1]}); !isCode(err, "invalid_argument", 400) {
		t.Fatalf("a share given twice: %v", err)
	}
	if st, err := sys.Unseal(ctx, client.UnsealInput{Share: shares[3]}); err != nil || st.Progress != "2/3" || !st.Sealed {
		t.Fatalf("after a repeated share: %+v %v", st, err)
	}
}

// alterShare changes one byte of a share's secret and recomputes its
// checksum: it parses, but opens nothing.
func alterShare(t *testing.T, text string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(text, "coffer-share-"))
	if err != nil || len(b) != 47 {
		t.Fatalf("share layout: %v %d", err, len(b))
	}
	b[20] ^= 1
	sum := sha256.Sum256(b[:43])
	copy(b[43:], sum[:4])
	return "coffer-share-" + base64.RawURLEncoding.EncodeToString(b)
}

func TestUnsealRateLimitedPerSource(t *testing.T) {
	dir, _ := initData(t, "", "--provider", "shamir", "--shares", "3", "--threshold", "2")
	_, addr, _ := serveLines(t, "--config", filepath.Join(dir, "coffer.yaml"), "--addr", "127.0.0.1:0")
	limited := 0
	for range 15 {
		st, code := call(t, "POST", addr+"/v1/sys/unseal", "", `{"share":"coffer-share-not-a-share"}`)
		switch {
		case st == 429 && code == "rate_limited":
			limited++
		case st != 400:
			t.Fatalf("a malformed share: %d %q", st, code)
		}
	}
	if limited == 0 {
		t.Fatal("15 unseal attempts in a row from one address were never rate limited")
	}
}

// TestUnsealFloodRunsOneArgon2 sends a burst of concurrent wrong
// passphrases: one is checked, the others answer 429 at once, and the
// heap never grows by more than a few argon2id working sets (64 MiB each).
func TestUnsealFloodRunsOneArgon2(t *testing.T) {
	dir, _ := initData(t, testPassphrase+"\n", "--provider", "passphrase")
	_, addr, _ := serveLines(t, "--config", filepath.Join(dir, "coffer.yaml"), "--addr", "127.0.0.1:0")
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const n = 8
	statuses := make(chan int, n)
	var ready, wg sync.WaitGroup
	ready.Add(n)
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			body := `{"passphrase":"wrong ` + string(rune('a'+i)) + `"}`
			req, _ := http.NewRequest("POST", addr+"/v1/sys/unseal", strings.NewReader(body))
			ready.Done()
			<-gate
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	ready.Wait()
	close(gate)
	wg.Wait()
	close(statuses)
	busy, checked := 0, 0
	for s := range statuses {
		switch s {
		case 429:
			busy++
		case 401:
			checked++
		default:
			t.Errorf("a flooded unseal answered %d", s)
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapSys) - int64(before.HeapSys)
	t.Logf("flood of %d: %d checked, %d busy; heap reserved grew by %d MiB", n, checked, busy, grew>>20)
	if busy == 0 || checked == 0 {
		t.Fatalf("flood of %d: %d checked, %d busy: want one checked at a time, the rest 429", n, checked, busy)
	}
	if grew > 3*64<<20 {
		t.Fatalf("a flood of %d unseal attempts grew the heap by %d MiB: more than one argon2id at once", n, grew>>20)
	}
}

func TestInitRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "notes.txt"), "mine\n")
	code, out, errs := run(t, nil, "", "init", "--data", dir)
	if code != 2 || !strings.Contains(errs, "not empty") || strings.Contains(out, "admin API key") {
		t.Fatalf("init into a non-empty dir: exit %d %s %s", code, out, errs)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("init wrote into a non-empty directory: %v", entries)
	}
}

func TestInitFileProviderServesAndNonLoopbackGetsTLS(t *testing.T) {
	dir, out := initData(t, "", "--addr", "0.0.0.0:8750")
	token := adminKey(t, out)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode: %v %v", fi.Mode(), err)
	}
	for _, f := range []string{"coffer.yaml", "schema.yaml", "keys.json", "audit-keys.txt", "tls.crt", "tls.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("coffer init did not write %s: %v", f, err)
		}
	}
	if !strings.Contains(out, "fingerprint") || !strings.Contains(out, "enrollment") {
		t.Errorf("init output says nothing of TLS or enrollment:\n%s", out)
	}
	lines, addr, _ := serveLines(t, "--config", filepath.Join(dir, "coffer.yaml"), "--addr", "127.0.0.1:0")
	logs := strings.Join(lines, "\n")
	if !strings.HasPrefix(addr, "https://") || !strings.Contains(logs, "using a self-signed certificate") {
		t.Fatalf("a non-loopback init does not serve its TLS pair: %s\n%s", addr, logs)
	}
	fp := regexp.MustCompile(`fingerprint (\S+)`).FindStringSubmatch(out)[1]
	cl, err := client.New(client.Config{Addr: addr, Token: token, TLSFingerprint: fp})
	if err != nil {
		t.Fatal(err)
	}
	h, err := cl.System().Health(context.Background())
	if err != nil || h.Sealed {
		t.Fatalf("a file-provider server: %+v %v", h, err)
	}
	if _, err := cl.APIKeys().List(context.Background()); err != nil {
		t.Fatalf("the admin key init printed: %v", err)
	}
	// Sealed, a file-provider server re-reads its key file on an empty
	// unseal and refuses a passphrase.
	if _, err := cl.System().Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.APIKeys().List(context.Background()); !isCode(err, "sealed", 503) {
		t.Fatalf("after seal: %v", err)
	}
	if _, err := cl.System().Unseal(context.Background(), client.UnsealInput{Passphrase: "x"}); !isCode(err, "invalid_argument", 400) {
		t.Fatalf("a passphrase to a file-provider server: %v", err)
	}
	if st, err := cl.System().Unseal(context.Background(), client.UnsealInput{}); err != nil || st.Sealed {
		t.Fatalf("empty unseal of a file-provider server: %+v %v", st, err)
	}
	if _, err := cl.APIKeys().List(context.Background()); err != nil {
		t.Fatalf("after re-unseal: %v", err)
	}
	// The audit public key file is the one the server signs with.
	keys, err := (&keyring.File{Path: filepath.Join(dir, "keys.json")}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(keys.IndexKey)
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := audit.ReadKeyFile(filepath.Join(dir, "audit-keys.txt"))
	if err != nil || !pubs[signer.Version()].Equal(signer.PublicKey()) {
		t.Fatalf("audit-keys.txt holds %v (%v), the server signs with %x", pubs, err, signer.PublicKey())
	}
}

func TestStarterSchemaParses(t *testing.T) {
	if _, err := schema.Parse("starter", []byte(starterSchema)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(starterSchema, "\n# ") {
		t.Fatal("the starter schema has no comments")
	}
}

// TestInitPrintsOperatorEnrollmentLink: coffer init creates the first
// operator (an admin) that has yet to enroll and prints its single-use
// link on the address init configured; the link's token enrolls through
// POST /v1/enroll and /v1/enroll/confirm, after which that operator logs in.
// Nobody but the enrolling person ever sees the password or the TOTP seed.
func TestInitPrintsOperatorEnrollmentLink(t *testing.T) {
	dir, out := initData(t, "", "--addr", "127.0.0.1:18999", "--operator", "root.admin")
	m := regexp.MustCompile(`(?m)^operator enrollment link \(root\.admin, admin\): (\S+)$`).FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[1], "http://127.0.0.1:18999/ui/enroll#token=cofe_") {
		t.Fatalf("coffer init printed no enrollment link for root.admin on its address:\n%s", out)
	}
	if strings.Contains(out, "otpauth") {
		t.Fatalf("init printed a TOTP seed:\n%s", out)
	}
	_, addr, _ := serveLines(t, "--config", filepath.Join(dir, "coffer.yaml"), "--addr", "127.0.0.1:0")
	anon := &apiClient{t: t, addr: addr}
	token := client.EnrollmentToken(m[1])
	st, body, raw := anon.call("POST", "/v1/enroll", "", map[string]any{"token": token, "password": "a long enough passphrase"})
	uri, _ := body["totp_uri"].(string)
	if st != 200 || !strings.Contains(uri, "root.admin") {
		t.Fatalf("enroll with init's link: %d %s", st, raw)
	}
	u, _ := url.Parse(uri)
	code, _ := totp.GenerateCode(u.Query().Get("secret"), time.Now())
	if st, _, raw = anon.call("POST", "/v1/enroll/confirm", "", map[string]any{"token": token, "totp": code}); st != 204 {
		t.Fatalf("confirm: %d %s", st, raw)
	}
	// The confirmation used this step's code; log in with the next one.
	code, _ = totp.GenerateCode(u.Query().Get("secret"), time.Now().Add(30*time.Second))
	st, body, raw = anon.call("POST", "/v1/auth/login", "", map[string]any{"username": "root.admin", "password": "a long enough passphrase", "totp": code})
	if tok, _ := body["token"].(string); st != 200 || !strings.HasPrefix(tok, "cofs_") {
		t.Fatalf("login of the enrolled operator: %d %s", st, raw)
	}
	// A second init-style link cannot be replayed.
	anon.expect(404, "not_found", "POST", "/v1/enroll", "", map[string]any{"token": token, "password": "a long enough passphrase"})
}
