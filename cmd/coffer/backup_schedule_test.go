package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

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
