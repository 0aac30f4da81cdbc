package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/cofferhq/coffer/examples"
)

// envelopeServer serves an initialised data directory (started sealed)
// and returns its address.
func envelopeServer(t *testing.T, dir string) (addr string, stop func()) {
	t.Helper()
	_, addr, stop = serveLines(t, "--config", filepath.Join(dir, "coffer.yaml"), "--addr", "127.0.0.1:0")
	if !health(t, addr) {
		t.Fatal("an envelope-provider server did not start sealed")
	}
	return addr, stop
}

// unsealWith runs coffer unseal once per secret (a passphrase, or shares).
func unsealWith(t *testing.T, addr string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if code, _, errs := run(t, map[string]string{"COFFER_ADDR": addr}, s+"\n", "unseal"); code != 0 {
			t.Fatalf("coffer unseal: exit %d %s", code, errs)
		}
	}
	if health(t, addr) {
		t.Fatal("still sealed after coffer unseal")
	}
}

// kekVersions is GET /v1/sys/keys's KEK versions as "2(current)"-style
// strings, held versions only marked so.
func kekVersions(t *testing.T, admin *apiClient) []string {
	t.Helper()
	st, m, raw := admin.call("GET", "/v1/sys/keys", "", nil)
	if st != 200 {
		t.Fatalf("GET /v1/sys/keys: %d %s", st, raw)
	}
	var out []string
	for _, v := range m["versions"].([]any) {
		v := v.(map[string]any)
		s := fmt.Sprint(v["version"])
		if v["current"] == true {
			s += "(current)"
		}
		if v["held"] != true {
			s += "(not held)"
		}
		out = append(out, s)
	}
	return out
}

// envelopeMeta reads root.json's public version fields.
func envelopeMeta(t *testing.T, dir string) (current, derived, min uint32, exported []uint32) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Current        uint32   `json:"current"`
		DerivedCurrent uint32   `json:"derived_current"`
		Min            uint32   `json:"min_decryption_version"`
		Exported       []uint32 `json:"exported"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e.Current, e.DerivedCurrent, e.Min, e.Exported
}

// TestPassphraseLiveKeyRotation is live KEK rotation on a passphrase
// server: rotate, re-wrap, export and retire version 1, seal, unseal (the
// root opens again, the envelope names version 2 only), then a restart
// from the same directory. Reads, search and a card token from before the
// rotation work throughout.
func TestPassphraseLiveKeyRotation(t *testing.T) {
	dir, out := initData(t, testPassphrase+"\n", "--provider", "passphrase")
	token := adminKey(t, out)
	addr, stop := envelopeServer(t, dir)
	unsealWith(t, addr, testPassphrase)
	admin := &apiClient{t: t, addr: addr, token: token}
	// The shop schema: init's starter has no billing role nor card tokens.
	if st, _, raw := admin.call("PUT", "/v1/schema", "", examples.Shop); st != 200 {
		t.Fatalf("PUT /v1/schema: %d %s", st, raw)
	}
	const n = 5
	ids, billingKey, card := seedForRotation(t, admin, "env", n)
	billing := &apiClient{t: t, addr: addr, token: billingKey}

	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	if code, out, errs := run(t, env, "", "keys", "rotate"); code != 0 || !strings.Contains(out, "KEK version 2 is current") {
		t.Fatalf("keys rotate: %d %s %s", code, out, errs)
	}
	code, out, errs := run(t, env, "", "keys", "status", "--wait")
	if code != 0 || !strings.Contains(out, "version 1: 0 subject keys, 0 token keys") ||
		!strings.Contains(out, fmt.Sprintf("version 2 (current): %d subject keys, 1 token keys", n)) || !strings.Contains(out, "re-wrap: done") {
		t.Fatalf("keys status --wait: %d %s %s", code, out, errs)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(t.TempDir(), "kek-v1.age")
	if code, _, errs = run(t, env, "", "keys", "export", "1", "--recipient", id.Recipient().String(), "--out", exported); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	if _, err := os.Stat(exported); err != nil {
		t.Fatal(err)
	}
	if code, out, errs = run(t, env, "", "keys", "retire", "1"); code != 0 {
		t.Fatalf("retire after export: %d %s %s", code, out, errs)
	}
	if cur, derived, min, exp := envelopeMeta(t, dir); cur != 2 || derived > 1 || min != 2 || fmt.Sprint(exp) != "[1]" {
		t.Fatalf("root.json after rotate, export, retire: current %d, derived %d, min %d, exported %v", cur, derived, min, exp)
	}

	check := func(when string) {
		t.Helper()
		// First, before a read could make the server re-read root.json: the
		// unseal itself derived what the envelope names.
		if got := fmt.Sprint(kekVersions(t, admin)); got != "[2(current)]" {
			t.Fatalf("%s: GET /v1/sys/keys KEK versions %s, want version 2 only (1 retired)", when, got)
		}
		st, m, raw := billing.call("POST", "/v1/tokens/detokenize", "billing", map[string]any{"tokens": []string{card}})
		if st != 200 || m["values"].([]any)[0] != "4539578763621486" {
			t.Fatalf("%s: detokenize a card token from before the rotation: %d %s", when, st, raw)
		}
		for i, id := range ids {
			if st, _, raw := admin.call("GET", "/v1/collections/customers/records/"+id, "account", nil); st != 200 {
				t.Fatalf("%s: read %d: %d %s", when, i, st, raw)
			}
			st, m, raw := admin.call("POST", "/v1/collections/customers/search", "account", map[string]any{"where": map[string]any{"email": fmt.Sprintf("env%d@rotate.example", i)}})
			if st != 200 || len(m["records"].([]any)) != 1 {
				t.Fatalf("%s: search %d: %d %s", when, i, st, raw)
			}
		}
	}
	check("after retirement")

	// Seal: the keys API answers sealed like every call; unseal again.
	if code, _, errs := run(t, env, "", "seal"); code != 0 || !health(t, addr) {
		t.Fatalf("coffer seal: %d %s", code, errs)
	}
	admin.expect(503, "sealed", "POST", "/v1/sys/keys/rotate", "", map[string]any{})
	unsealWith(t, addr, testPassphrase)
	check("after seal and unseal")
	stop()

	addr, _ = envelopeServer(t, dir)
	unsealWith(t, addr, testPassphrase)
	admin = &apiClient{t: t, addr: addr, token: token}
	billing = &apiClient{t: t, addr: addr, token: billingKey}
	check("after a restart")
	if code, out, errs = run(t, map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}, "", "keys", "rotate"); code != 0 || !strings.Contains(out, "KEK version 3 is current") {
		t.Fatalf("a second rotation after the restart: %d %s %s", code, out, errs)
	}
	if code, out, errs = run(t, map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}, "", "keys", "status", "--wait"); code != 0 ||
		!strings.Contains(out, fmt.Sprintf("version 3 (current): %d subject keys, 1 token keys", n)) {
		t.Fatalf("the re-wrap to version 3: %d %s %s", code, out, errs)
	}
}

// TestShamirLiveKeyRotation: the same on a Shamir server, shorter: rotate,
// retire version 1 (forced), seal, unseal with other shares.
func TestShamirLiveKeyRotation(t *testing.T) {
	dir, out := initData(t, "", "--provider", "shamir", "--shares", "3", "--threshold", "2")
	token := adminKey(t, out)
	var shares []string
	for _, m := range shareRE.FindAllStringSubmatch(out, -1) {
		shares = append(shares, m[2])
	}
	addr, _ := envelopeServer(t, dir)
	unsealWith(t, addr, shares[0], shares[1])
	admin := &apiClient{t: t, addr: addr, token: token}
	st, m, raw := admin.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": "ada@shamir.example"}})
	if st != 201 {
		t.Fatal(raw)
	}
	rec := m["id"].(string)
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	if code, out, errs := run(t, env, "", "keys", "rotate"); code != 0 || !strings.Contains(out, "KEK version 2 is current") {
		t.Fatalf("keys rotate: %d %s %s", code, out, errs)
	}
	if code, out, errs := run(t, env, "", "keys", "status", "--wait"); code != 0 || !strings.Contains(out, "re-wrap: done") {
		t.Fatalf("keys status --wait: %d %s %s", code, out, errs)
	}
	if code, out, errs := run(t, env, "", "keys", "retire", "1", "--force"); code != 0 {
		t.Fatalf("retire --force: %d %s %s", code, out, errs)
	}
	if st, _, raw := admin.call("POST", "/v1/sys/seal", "", nil); st/100 != 2 || !health(t, addr) {
		t.Fatalf("seal: %d %s", st, raw)
	}
	unsealWith(t, addr, shares[2], shares[0])
	if got := fmt.Sprint(kekVersions(t, admin)); got != "[2(current)]" {
		t.Fatalf("GET /v1/sys/keys KEK versions %s after seal and unseal, want version 2 only", got)
	}
	if st, _, raw := admin.call("GET", "/v1/collections/customers/records/"+rec, "account", nil); st != 200 {
		t.Fatalf("read after rotation, seal and unseal: %d %s", st, raw)
	}
}

// TestPassphraseDerivedRotation: a rotation of the derived-key root on a
// passphrase server persists in root.json; after a restart and an unseal,
// search finds every record, those indexed before the rotation and after.
func TestPassphraseDerivedRotation(t *testing.T) {
	dir, out := initData(t, testPassphrase+"\n", "--provider", "passphrase")
	token := adminKey(t, out)
	addr, stop := envelopeServer(t, dir)
	unsealWith(t, addr, testPassphrase)
	admin := &apiClient{t: t, addr: addr, token: token}
	create := func(tag string, n int) {
		for i := range n {
			if st, _, raw := admin.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": fmt.Sprintf("%s%d@derived.example", tag, i)}}); st != 201 {
				t.Fatal(raw)
			}
		}
	}
	create("before", 3)
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	if code, out, errs := run(t, env, "", "keys", "rotate", "--derived"); code != 0 {
		t.Fatalf("keys rotate --derived: %d %s %s", code, out, errs)
	}
	create("after", 3) // indexed under derived version 2 at once
	if _, derived, _, _ := envelopeMeta(t, dir); derived != 2 {
		t.Fatalf("root.json derived_current %d after a derived rotation, want 2", derived)
	}
	stop()

	addr, _ = envelopeServer(t, dir)
	unsealWith(t, addr, testPassphrase)
	admin = &apiClient{t: t, addr: addr, token: token}
	for _, tag := range []string{"before", "after"} {
		for i := range 3 {
			st, m, raw := admin.call("POST", "/v1/collections/customers/search", "account", map[string]any{"where": map[string]any{"email": fmt.Sprintf("%s%d@derived.example", tag, i)}})
			if st != 200 || len(m["records"].([]any)) != 1 {
				t.Fatalf("search %s%d after a restart: %d %s", tag, i, st, raw)
			}
		}
	}
	st, m, raw := admin.call("GET", "/v1/sys/keys", "", nil)
	d, _ := m["derived"].(map[string]any)
	if st != 200 || d == nil || !strings.Contains(raw, `"version":2,"current":true`) {
		t.Fatalf("GET /v1/sys/keys after a restart: %d %s", st, raw)
	}
	create("later", 1) // the audit head, signed by derived version 2's key, still verifies
}

// TestOfflineKeysRefuseEnvelopeProvider: --offline needs the root, which
// an envelope provider opens only on the running server.
func TestOfflineKeysRefuseEnvelopeProvider(t *testing.T) {
	dir, _ := initData(t, "", "--provider", "shamir", "--shares", "3", "--threshold", "2")
	for _, args := range [][]string{{"keys", "rotate", "--offline"}, {"keys", "status", "--offline"}} {
		code, _, errs := run(t, nil, "", append(args, "--config", filepath.Join(dir, "coffer.yaml"))...)
		if code != 2 || !strings.Contains(errs, "--offline works with the file provider only") {
			t.Errorf("%v on a shamir directory: %d %s", args, code, errs)
		}
	}
	if cur, _, _, _ := envelopeMeta(t, dir); cur != 1 {
		t.Fatalf("a refused offline rotation changed root.json: current %d", cur)
	}
}
