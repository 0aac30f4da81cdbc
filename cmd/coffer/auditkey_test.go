package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/keyring"
)

// TestLiveAuditKeyRotation: a rotation of the derived-key root on a
// serving vault rotates the audit signing key (SPEC §4, §8). New
// checkpoints and backup manifests are signed by version 2; audit-keys.txt
// and the witness gain version 2's public key and keep version 1's; audit
// verify (from the key file, from audit-keys.txt, with the witness) and
// POST /v1/audit/verify accept the log; backup verify accepts a manifest
// of either version. A checkpoint re-signed under a version nobody
// published fails verify (exit 1).
func TestLiveAuditKeyRotation(t *testing.T) {
	data := t.TempDir()
	dir := t.TempDir()
	identity, recipient := keygen(t, dir)
	addr, token, _, stop := devServer(t, data)
	defer stop()
	admin := &apiClient{t: t, addr: addr, token: token}
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	create := func(n int, tag string) {
		for i := range n {
			if st, _, raw := admin.call("POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": fmt.Sprintf("%s%d@audit.example", tag, i)}}); st != 201 {
				t.Fatal(raw)
			}
		}
	}
	create(3, "before")
	before := filepath.Join(dir, "before.backup")
	if code, out, errs := run(t, env, "", "backup", "create", "--recipient", recipient, "--out", before); code != 0 {
		t.Fatalf("backup before the rotation: %d %s %s", code, out, errs)
	}
	if code, out, errs := run(t, env, "", "keys", "rotate", "--derived"); code != 0 {
		t.Fatalf("keys rotate --derived: %d %s %s", code, out, errs)
	}
	create(3, "after")
	after := filepath.Join(dir, "after.backup")
	if code, out, errs := run(t, env, "", "backup", "create", "--recipient", recipient, "--out", after); code != 0 {
		t.Fatalf("backup after the rotation: %d %s %s", code, out, errs)
	}
	if st, m, raw := admin.call("POST", "/v1/audit/verify", "", nil); st != 200 || m["ok"] != true {
		t.Fatalf("POST /v1/audit/verify after the rotation: %d %s", st, raw)
	}
	stop()

	pubs, err := audit.ReadKeyFile(filepath.Join(data, "audit-keys.txt"))
	if err != nil || len(pubs) != 2 || pubs[1].Equal(pubs[2]) {
		t.Fatalf("audit-keys.txt after a rotation: %d versions (%v), want 2 distinct", len(pubs), err)
	}
	witness := data + ".witness"
	f, err := os.Open(witness)
	if err != nil {
		t.Fatal(err)
	}
	wcps, wpubs, err := audit.ReadWitness(f)
	f.Close()
	if err != nil || !wpubs[1].Equal(pubs[1]) || !wpubs[2].Equal(pubs[2]) || wcps[len(wcps)-1].KeyVersion != 2 {
		t.Fatalf("witness after a rotation: %d checkpoints, keys %d (%v); want both versions, the last checkpoint under 2", len(wcps), len(wpubs), err)
	}
	for _, m := range []struct{ file, version string }{{before, "1"}, {after, "2"}} {
		for _, trust := range [][]string{{"--data", data}, {"--audit-key", filepath.Join(data, "audit-keys.txt")}} {
			args := append([]string{"backup", "verify", m.file, "--identity", identity}, trust...)
			if code, out, errs := run(t, nil, "", args...); code != 0 {
				t.Fatalf("backup verify of the manifest signed by version %s, %v: %d %s %s", m.version, trust, code, out, errs)
			}
		}
	}
	keysFile := filepath.Join(data, "keys.json")
	for _, args := range [][]string{{"audit", "verify", "--data", data}, {"audit", "verify", "--data", data, "--witness", witness}} {
		if code, out, errs := run(t, nil, "", args...); code != 0 || !strings.HasPrefix(out, "ok:") {
			t.Fatalf("%v after a rotation: %d %s %s", args, code, out, errs)
		}
	}
	// No key file: audit-keys.txt beside the config holds both versions.
	moved := keysFile + ".away"
	if err := os.Rename(keysFile, moved); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, nil, "", "audit", "verify", "--data", data, "--witness", witness); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify from audit-keys.txt: %d %s %s", code, out, errs)
	}
	if err := os.Rename(moved, keysFile); err != nil {
		t.Fatal(err)
	}

	// The last checkpoint re-signed by a version-3 key nobody published.
	keys, err := (&keyring.File{Path: keysFile}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	rk := *keys
	rk.Derived = maps.Clone(keys.Derived)
	rk.Derived[3] = coffer.NewSecret(bytes.Repeat([]byte{3}, 32))
	rk.DerivedCurrent = 3
	rogue, err := audit.NewSignerKeys(&rk)
	if err != nil {
		t.Fatal(err)
	}
	var last audit.Checkpoint
	sqlExec(t, data, func(db *sql.DB) {
		var ctr, at, kv int64
		if err := db.QueryRow(`SELECT counter, kind, seq, hash, time, key_version FROM audit_checkpoints ORDER BY counter DESC LIMIT 1`).Scan(&ctr, &last.Kind, &last.Seq, &last.Hash, &at, &kv); err != nil {
			t.Fatal(err)
		}
		if kv != 2 {
			t.Fatalf("last checkpoint under version %d, want 2", kv)
		}
		last.Counter, last.Time = uint64(ctr), time.Unix(0, at).UTC()
		rogue.SignCheckpoint(&last)
		if _, err := db.Exec(`UPDATE audit_checkpoints SET key_version = ?, signature = ? WHERE counter = ?`, int64(last.KeyVersion), last.Signature, ctr); err != nil {
			t.Fatal(err)
		}
	})
	code, out, errs := run(t, nil, "", "audit", "verify", "--data", data)
	if code != 1 || !strings.Contains(out, "audit key version 3") {
		t.Fatalf("a checkpoint under an unknown key version: exit %d %s %s; want 1", code, out, errs)
	}
	// The serving vault's own verify says the same.
	addr, token, _, stop = devServer(t, data)
	defer stop()
	admin = &apiClient{t: t, addr: addr, token: token}
	if st, m, raw := admin.call("POST", "/v1/audit/verify", "", nil); st != 200 || m["ok"] != false || !strings.Contains(fmt.Sprint(m["reason"]), "audit key version 3") {
		t.Fatalf("POST /v1/audit/verify with a checkpoint under an unknown key version: %d %s; want ok false", st, raw)
	}
}
