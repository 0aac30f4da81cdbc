package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyRotation rotates the KEK of a data directory: every subject key is
// re-wrapped under the new version, the data stays readable, new subjects
// use the new version, and the audit chain still verifies.
func TestKeyRotation(t *testing.T) {
	data := t.TempDir()
	addr, token, _, stop := devServer(t, data)
	c := &apiClient{t: t, addr: addr, token: token}
	var ids []string
	for i := range 3 {
		st, m, raw := c.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": fmt.Sprintf("k%d@rotate.example", i)}})
		if st != 201 {
			t.Fatal(raw)
		}
		ids = append(ids, m["id"].(string))
	}
	stop()

	code, out, errs := run(t, nil, "", "keys", "status", "--offline", "--data", data)
	if code != 0 || !strings.Contains(out, "version 1 (current): 3 subject keys") {
		t.Fatalf("status before: %d %s %s", code, out, errs)
	}
	code, out, errs = run(t, nil, "", "keys", "rotate", "--offline", "--data", data)
	if code != 0 || !strings.Contains(out, "re-wrapped 3 subject and token-namespace keys") || !strings.Contains(errs, "added KEK version 2") {
		t.Fatalf("rotate: %d %s %s", code, out, errs)
	}
	code, out, _ = run(t, nil, "", "keys", "status", "--offline", "--data", data)
	if code != 0 || !strings.Contains(out, "version 1: 0 subject keys") || !strings.Contains(out, "version 2 (current): 3 subject keys") {
		t.Fatalf("status after: %s", out)
	}

	addr, token, _, stop = devServer(t, data)
	c = &apiClient{t: t, addr: addr, token: token}
	for i, id := range ids {
		st, m, raw := c.call("GET", "/v1/collections/customers/records/"+id, "account", nil)
		if st != 200 || m["fields"].(map[string]any)["email"] != fmt.Sprintf("k%d@rotate.example", i) {
			t.Fatalf("after rotation %s: %d %s", id, st, raw)
		}
	}
	if st, _, raw := c.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": "new@rotate.example"}}); st != 201 {
		t.Fatal(raw)
	}
	stop()
	if _, out, _ = run(t, nil, "", "keys", "status", "--offline", "--data", data); !strings.Contains(out, "version 2 (current): 4 subject keys") {
		t.Fatalf("a new subject did not use the new version: %s", out)
	}
	if code, out, errs = run(t, nil, "", "keys", "rotate", "--offline", "--rewrap-only", "--data", data); code != 0 || !strings.Contains(out, "re-wrapped 0 subject") {
		t.Fatalf("rewrap-only: %d %s %s", code, out, errs)
	}
	if code, out, errs = run(t, nil, "", "audit", "verify", "--data", data); code != 0 {
		t.Fatalf("audit verify after rotation: %d %s %s", code, out, errs)
	}
}

func TestKeysInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if code, _, errs := run(t, nil, "", "keys", "init", path); code != 0 {
		t.Fatalf("keys init: %s", errs)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	if code, _, errs := run(t, nil, "", "keys", "init", path); code != 2 || !strings.Contains(errs, "exists") {
		t.Fatalf("second keys init: %d %s", code, errs)
	}
}
