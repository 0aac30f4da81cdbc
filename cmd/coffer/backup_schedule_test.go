package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/vault"
)

// TestScheduledBackups: the scheduler writes verifiable backups into its
// directory, prunes to keep, and the listing names them newest first with
// their audit head; the listing is admin-only.
func TestScheduledBackups(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	v, st, keys, signer := backupVault(t, dir)
	identity, recipient := keygen(t, dir)
	target := filepath.Join(dir, "backups")
	cfg := config.Config{Data: dir, Backup: config.Backup{Every: "6h", Keep: 2, Target: "dir://" + target, Recipients: []string{recipient}}}
	b, sched, err := backupService(v, st, cfg, signer, slog.New(slog.DiscardHandler))
	if err != nil || sched == nil {
		t.Fatalf("scheduler: %v", err)
	}
	clock := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	sched.now = func() time.Time { clock = clock.Add(time.Hour); return clock }
	for range 3 {
		if err := sched.once(ctx); err != nil {
			t.Fatal(err)
		}
	}
	list, err := b.List(ctx, vault.SystemCall())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "coffer-20261123T030000.000Z.backup" || list[1].Name != "coffer-20261123T020000.000Z.backup" {
		t.Fatalf("listing after pruning to 2: %+v", list)
	}
	if list[0].AuditSeq <= list[1].AuditSeq || list[0].Size == 0 || list[0].Rows == 0 {
		t.Fatalf("listing: %+v", list)
	}
	for _, f := range list {
		if code, out, errs := run(t, nil, "", "backup", "verify", filepath.Join(target, f.Name), "--identity", identity, "--keys", keys); code != 0 {
			t.Fatalf("verify %s: %d %s %s", f.Name, code, out, errs)
		}
	}
	if _, err := b.List(ctx, &vault.Call{}); err == nil {
		t.Fatal("an anonymous call listed backups")
	}

	// A drill's result is kept beside the backup and listed.
	if list[0].LastVerify != nil {
		t.Fatalf("a backup never verified lists a verification: %+v", list[0].LastVerify)
	}
	if err := b.RecordVerification(ctx, vault.SystemCall(), list[0].Name, true, list[0].AuditSeq); err != nil {
		t.Fatal(err)
	}
	if err := b.RecordVerification(ctx, vault.SystemCall(), list[1].Name, false, 0); err != nil {
		t.Fatal(err)
	}
	after, err := b.List(ctx, vault.SystemCall())
	if err != nil {
		t.Fatal(err)
	}
	if lv := after[0].LastVerify; lv == nil || !lv.OK || lv.AuditSeq != list[0].AuditSeq || lv.At.IsZero() {
		t.Fatalf("listing after a passed drill: %+v", lv)
	}
	if lv := after[1].LastVerify; lv == nil || lv.OK {
		t.Fatalf("listing after a failed drill: %+v", lv)
	}
	if after[0].AuditSeq != list[0].AuditSeq || after[0].Rows != list[0].Rows {
		t.Fatalf("recording a drill changed the sidecar's other fields: %+v, was %+v", after[0], list[0])
	}
	for _, tc := range []struct {
		name string
		ok   bool
		seq  int64
		code string
	}{
		{"coffer-20261123T010000.000Z.backup", true, 1, coffer.ENOTFOUND}, // pruned
		{"../../etc/passwd", true, 1, coffer.EINVALID},
		{list[0].Name, false, 7, coffer.EINVALID}, // a failed drill verified no head
	} {
		if err := b.RecordVerification(ctx, vault.SystemCall(), tc.name, tc.ok, tc.seq); coffer.ErrorCode(err) != tc.code {
			t.Errorf("RecordVerification(%q, %t, %d): %v, want %s", tc.name, tc.ok, tc.seq, err, tc.code)
		}
	}
	if err := b.RecordVerification(ctx, &vault.Call{}, list[0].Name, true, 1); err == nil {
		t.Fatal("an anonymous call recorded a verification")
	}
	// Every one of those is in the audit log: 2 recorded, 3 refused with
	// their code, 1 denied.
	es, err := st.Audit(ctx, coffer.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range es {
		if e.Action == "backup.verified" {
			got[e.Outcome+" "+e.Reason]++
		}
	}
	if got["error "+coffer.ENOTFOUND] != 1 || got["error "+coffer.EINVALID] != 2 || got[coffer.OutcomeDenied+" "] > 1 {
		t.Errorf("backup.verified audit entries: %v", got)
	}
	allowed := 0
	for k, n := range got {
		if strings.HasPrefix(k, coffer.OutcomeAllowed+" ") {
			allowed += n
		}
	}
	if allowed != 2 {
		t.Errorf("backup.verified allowed entries: %d, want 2 (%v)", allowed, got)
	}
}

// backupVault opens a vault over a new SQLite store in dir with a new key
// file; it is closed when the test ends.
func backupVault(t *testing.T, dir string) (v *vault.Vault, st *sqlite.Store, keys string, signer *audit.Signer) {
	t.Helper()
	ctx := context.Background()
	keys = filepath.Join(dir, "keys.json")
	if err := keyring.CreateFile(keys); err != nil {
		t.Fatal(err)
	}
	rk, signer, err := rootKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	st, err = sqlite.Open(ctx, filepath.Join(dir, "coffer.db"), sqlite.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v, err = vault.New(ctx, vault.Options{Store: st, Keys: rk, Schema: examples.Shop, SchemaName: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, st, keys, signer
}

// TestBackupVerifyReport: backup verify --report tells the server what the
// drill found of the backup of that file name (passed with the head it
// verified; failed for a flipped byte) and says nothing when the drill
// could not run (a wrong identity).
func TestBackupVerifyReport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	v, st, keys, signer := backupVault(t, dir)
	identity, recipient := keygen(t, dir)
	target := filepath.Join(dir, "backups")
	cfg := config.Config{Data: dir, Backup: config.Backup{Every: "6h", Target: "dir://" + target, Recipients: []string{recipient}}}
	b, sched, err := backupService(v, st, cfg, signer, slog.New(slog.DiscardHandler))
	if err != nil || sched == nil {
		t.Fatalf("scheduler: %v", err)
	}
	if err := sched.once(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := b.List(ctx, vault.SystemCall())
	if err != nil || len(list) != 1 {
		t.Fatalf("listing: %+v %v", list, err)
	}
	type report struct {
		Path     string
		Token    string
		OK       bool  `json:"ok"`
		AuditSeq int64 `json:"audit_seq"`
	}
	var got []report
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := report{Path: r.Method + " " + r.URL.Path, Token: r.Header.Get("Authorization")}
		json.NewDecoder(r.Body).Decode(&rep)
		got = append(got, rep)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	env := map[string]string{"COFFER_ADDR": srv.URL, "COFFER_TOKEN": "coffer_test_token"}
	file := filepath.Join(target, list[0].Name)
	want := "POST /v1/backups/" + list[0].Name + "/verifications"

	if code, out, errs := run(t, env, "", "backup", "verify", file, "--identity", identity, "--keys", keys, "--report"); code != 0 || !strings.Contains(out, "recorded: "+list[0].Name) {
		t.Fatalf("verify --report: %d %s %s", code, out, errs)
	}
	if len(got) != 1 || got[0].Path != want || !got[0].OK || got[0].AuditSeq != list[0].AuditSeq || got[0].Token != "Bearer coffer_test_token" {
		t.Fatalf("a passed drill reported %+v, want ok at seq %d to %s", got, list[0].AuditSeq, want)
	}

	// The same name, a flipped byte: exit 1, reported as failed.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	bad := filepath.Join(t.TempDir(), list[0].Name)
	if err := os.WriteFile(bad, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, env, "", "backup", "verify", bad, "--identity", identity, "--keys", keys, "--report"); code != 1 {
		t.Fatalf("verify --report of a flipped byte: exit %d %s %s", code, out, errs)
	}
	if len(got) != 2 || got[1].Path != want || got[1].OK || got[1].AuditSeq != 0 {
		t.Fatalf("a failed drill reported %+v", got[1:])
	}

	// A wrong identity: the drill cannot run, nothing is reported.
	other, _ := keygen(t, t.TempDir())
	if code, _, _ := run(t, env, "", "backup", "verify", file, "--identity", other, "--keys", keys, "--report"); code != 2 {
		t.Fatalf("verify --report with a wrong identity: exit %d", code)
	}
	if len(got) != 2 {
		t.Fatalf("a drill that could not run reported %+v", got[2:])
	}
}
