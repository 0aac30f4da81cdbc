package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/cofferhq/coffer/internal/datadir"
)

// TestLiveKeyRotation is issue 19's "done when" on a serving node: rotate
// through the API, reads of uncached subjects right away, the re-wrap
// completes (subject and token-namespace keys), version 1 is exported and
// retired, a card token from before still detokenizes, search finds every
// record, and a restarted server still reads everything.
func TestLiveKeyRotation(t *testing.T) {
	data := t.TempDir()
	addr, token, _, stop := devServer(t, data)
	admin := &apiClient{t: t, addr: addr, token: token}
	const n = 20
	ids, billingKey, card := seedForRotation(t, admin, "live", n)
	billing := &apiClient{t: t, addr: addr, token: billingKey}
	stop()

	// A fresh server: every subject key is uncached.
	addr, token, _, stop = devServer(t, data)
	admin = &apiClient{t: t, addr: addr, token: token}
	billing = &apiClient{t: t, addr: addr, token: billingKey}
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	code, out, errs := run(t, env, "", "keys", "rotate")
	if code != 0 || !strings.Contains(out, "KEK version 2 is current") {
		t.Fatalf("keys rotate: %d %s %s", code, out, errs)
	}
	for _, id := range ids {
		if st, _, raw := admin.call("GET", "/v1/collections/customers/records/"+id, "account", nil); st != 200 {
			t.Fatalf("read of an uncached subject after the rotation: %d %s", st, raw)
		}
	}
	code, out, errs = run(t, env, "", "keys", "status", "--wait")
	if code != 0 || !strings.Contains(out, "version 1: 0 subject keys, 0 token keys") ||
		!strings.Contains(out, fmt.Sprintf("version 2 (current): %d subject keys, 1 token keys", n)) || !strings.Contains(out, "re-wrap: done") {
		t.Fatalf("keys status --wait: %d %s %s", code, out, errs)
	}

	// Bad input and callers who may not: 4xx, nothing changes.
	admin.expect(400, "invalid_argument", "POST", "/v1/sys/keys/retire", "", map[string]any{"version": 0})
	admin.expect(400, "invalid_argument", "POST", "/v1/sys/keys/retire", "", map[string]any{"version": 1, "forse": true})
	admin.expect(400, "invalid_argument", "POST", "/v1/sys/keys/retire", "", map[string]any{"version": -1})
	admin.expect(400, "invalid_argument", "POST", "/v1/sys/keys/export", "", map[string]any{"version": 1})
	admin.expect(400, "invalid_argument", "POST", "/v1/sys/keys/export", "", map[string]any{"version": 1, "recipient": "age1nope"})
	admin.expect(400, "invalid_argument", "POST", "/v1/sys/keys/rotate", "", map[string]any{"rewrap": true})
	admin.expect(400, "invalid_argument", "GET", "/v1/sys/keys?wait=soon", "", nil)
	admin.expect(404, "not_found", "POST", "/v1/sys/keys/export", "", map[string]any{"version": 9, "recipient": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"})
	admin.expect(409, "conflict", "POST", "/v1/sys/keys/retire", "", map[string]any{"version": 2, "force": true})
	for _, call := range [][2]string{{"GET", "/v1/sys/keys"}, {"POST", "/v1/sys/keys/rotate"}, {"POST", "/v1/sys/keys/retire"}, {"POST", "/v1/sys/keys/export"}} {
		var body any
		if call[0] == "POST" {
			body = map[string]any{"version": 1, "force": true}
			if strings.HasSuffix(call[1], "export") {
				body = map[string]any{"version": 1, "recipient": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}
			}
			if strings.HasSuffix(call[1], "rotate") {
				body = map[string]any{}
			}
		}
		billing.expect(403, "forbidden", call[0], call[1], "", body)
	}
	if _, out, _ = run(t, env, "", "keys", "status"); !strings.Contains(out, "version 1:") || strings.Contains(out, "version 3") || strings.Contains(out, "exported") {
		t.Fatalf("refused calls changed the keys: %s", out)
	}

	// Retire: refused until exported.
	if code, _, errs = run(t, env, "", "keys", "retire", "1"); code == 0 || !strings.Contains(errs, "never exported") {
		t.Fatalf("retire before export: %d %s", code, errs)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(t.TempDir(), "kek-v1.age")
	if code, _, errs = run(t, env, "", "keys", "export", "1", "--recipient", id.Recipient().String(), "--out", exported); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	b, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(b)), id)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := io.ReadAll(r)
	var doc struct {
		Version uint32
		Key     []byte
	}
	if err := json.Unmarshal(pt, &doc); err != nil || doc.Version != 1 || len(doc.Key) != 32 {
		t.Fatalf("exported file: %v", err)
	}
	if code, out, errs = run(t, env, "", "keys", "retire", "1"); code != 0 {
		t.Fatalf("retire after export: %d %s %s", code, out, errs)
	}
	if _, out, _ = run(t, env, "", "keys", "status"); strings.Contains("\n"+out, "\nversion 1") { // KEK lines; "derived version 1" stays
		t.Fatalf("version 1 still listed after retirement: %s", out)
	}

	check := func(when string) {
		t.Helper()
		st, m, raw := billing.call("POST", "/v1/tokens/detokenize", "billing", map[string]any{"tokens": []string{card}})
		if st != 200 || m["values"].([]any)[0] != "4539578763621486" {
			t.Fatalf("%s: detokenize a card token from before the rotation: %d %s", when, st, raw)
		}
		for i := range n {
			st, m, raw := admin.call("POST", "/v1/collections/customers/search", "account", map[string]any{"where": map[string]any{"email": fmt.Sprintf("live%d@rotate.example", i)}})
			if st != 200 || len(m["records"].([]any)) != 1 {
				t.Fatalf("%s: search %d: %d %s", when, i, st, raw)
			}
		}
	}
	check("after retirement")
	stop()
	addr, token, _, stop = devServer(t, data)
	admin = &apiClient{t: t, addr: addr, token: token}
	billing = &apiClient{t: t, addr: addr, token: billingKey}
	check("after a restart")
	stop()
	if code, out, errs = run(t, nil, "", "audit", "verify", "--data", data); code != 0 {
		t.Fatalf("audit verify after rotation: %d %s %s", code, out, errs)
	}
}

// The offline path refuses a data directory a server holds.
func TestOfflineRotateRefusedWhileServed(t *testing.T) {
	data := t.TempDir()
	_, _, _, stop := devServer(t, data)
	stop()
	lock, err := datadir.Acquire(data, "127.0.0.1:8750")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	for _, args := range [][]string{{"keys", "rotate", "--offline", "--data", data}, {"keys", "status", "--offline", "--data", data}} {
		code, _, errs := run(t, nil, "", args...)
		if code == 0 || !strings.Contains(errs, "served by another coffer process") || !strings.Contains(errs, "drop --offline") {
			t.Errorf("%v while served: %d %s", args, code, errs)
		}
	}
	keys, _ := os.ReadFile(filepath.Join(data, "keys.json"))
	if strings.Contains(string(keys), `"2"`) {
		t.Error("a refused offline rotation added a version")
	}
}

// TestRotateNamedKeysFromTheCLI: coffer keys rotate --fpe-key and
// --token-namespace rotate one named key each through the server, keys
// status lists them, and the flags refuse to be combined.
func TestRotateNamedKeysFromTheCLI(t *testing.T) {
	addr, token, _, _ := devServer(t, t.TempDir())
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	for _, tc := range []struct{ flag, name, want string }{
		{"--fpe-key", "cards", "fpe_key cards: version 2 is current"},
		{"--fpe-key", "cards", "fpe_key cards: version 3 is current"},
		{"--token-namespace", "cards", "token_namespace cards: version 2 is current"},
	} {
		if code, out, errs := run(t, env, "", "keys", "rotate", tc.flag, tc.name); code != 0 || !strings.Contains(out, tc.want) {
			t.Fatalf("keys rotate %s %s: %d %q %s", tc.flag, tc.name, code, out, errs)
		}
	}
	code, out, errs := run(t, env, "", "keys", "status")
	if code != 0 || !strings.Contains(out, "fpe_key cards: version 3 current") || !strings.Contains(out, "token_namespace cards: version 2 current") {
		t.Fatalf("keys status: %d %s %s", code, out, errs)
	}
	if code, _, errs := run(t, env, "", "keys", "rotate", "--fpe-key", "a", "--token-namespace", "b"); code != 2 || !strings.Contains(errs, "one named key per rotation") {
		t.Fatalf("both flags: exit %d %s", code, errs)
	}
}

// seedForRotation creates n customer records (emails prefix<i>@rotate.example)
// and a billing API key, and tokenizes one card with it: what a rotation
// test reads back afterwards. It returns the record ids, the billing key and
// the card token.
func seedForRotation(t *testing.T, admin *apiClient, prefix string, n int) (ids []string, billingKey, card string) {
	t.Helper()
	for i := range n {
		st, m, raw := admin.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": fmt.Sprintf("%s%d@rotate.example", prefix, i)}})
		if st != 201 {
			t.Fatal(raw)
		}
		ids = append(ids, m["id"].(string))
	}
	st, m, raw := admin.call("POST", "/v1/api-keys", "", map[string]any{"name": "billing", "role": "billing"})
	if st != 201 {
		t.Fatal(raw)
	}
	billingKey = m["key"].(string)
	billing := &apiClient{t: admin.t, addr: admin.addr, token: billingKey}
	st, m, raw = billing.call("POST", "/v1/tokens", "", map[string]any{"namespace": "cards", "card_keep_bin": 6,
		"values": []map[string]any{{"value": "4539 5787 6362 1486", "format": "card"}}})
	if st != 201 {
		t.Fatal(raw)
	}
	return ids, billingKey, m["tokens"].([]any)[0].(string)
}
