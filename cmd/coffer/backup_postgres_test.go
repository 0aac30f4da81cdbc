package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/pgtest"
	"github.com/cofferhq/coffer/internal/postgres"
	"github.com/cofferhq/coffer/internal/vault"
)

// TestBackupSQLiteToPostgres: a SQLite backup restores into PostgreSQL
// (the migration path) with its chain intact, the PostgreSQL store backs
// itself up in one REPEATABLE READ transaction, that backup verifies, and
// a second restore into the now non-empty database is refused.
func TestBackupSQLiteToPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr, token, _, stop := devServer(t, data)
	cl := testClient(t, addr, token)
	for _, s := range []string{"cus_a", "cus_b", "cus_c"} {
		if _, err := cl.Records().Create(ctx, "account", "customers", client.NewRecord{Subject: s,
			Fields: map[string]any{"email": s + "@example.com", "name": "N " + s}}); err != nil {
			t.Fatal(err)
		}
		if err := cl.Subjects().SetConsent(ctx, s, "marketing", client.ConsentChange{Granted: true}); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	keys := filepath.Join(data, "keys.json")
	identity, recipient := keygen(t, dir)
	file := filepath.Join(dir, "lite.backup")
	if code, out, errs := run(t, nil, "", "backup", "create", "--data", data, "--recipient", recipient, "--out", file); code != 0 {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	witness := data + ".witness" // the dev server's
	code, out, errs := run(t, nil, "", "backup", "restore", file, "--identity", identity, "--keys", keys, "--database", dsn, "--witness", witness)
	if code != 0 {
		t.Fatalf("restore into PostgreSQL: %d %s %s", code, out, errs)
	}
	t.Log(out)
	m := manifestOf(t, file, identity, keys)
	cps := readWitness(t, witness)
	if last := cps[len(cps)-1]; last.Kind != audit.KindRestore || last.Seq != m.AuditSeq {
		t.Fatalf("the witness ends in a %s checkpoint at seq %d, want the restore's at %d", last.Kind, last.Seq, m.AuditSeq)
	}

	_, signer, err := rootKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := postgres.Open(ctx, dsn, signer)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if n, err := audit.VerifyStore(ctx, ps, signer.PublicKeys(), cps, signer.PublicKeys()); err != nil || n != m.AuditSeq+1 {
		t.Fatalf("the restored PostgreSQL log against the witness: %d entries: %v", n, err)
	}
	var n int64
	if err := ps.DB.QueryRow(ctx, `SELECT count(*) FROM records`).Scan(&n); err != nil || n != m.Tables["records"] || n < 3 {
		t.Fatalf("PostgreSQL holds %d records, the backup %d: %v", n, m.Tables["records"], err)
	}
	// The serial consent sequence moved past the restored rows: a new
	// consent event commits.
	if err := ps.DB.QueryRow(ctx, `SELECT count(*) FROM consent_events`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("consent events: %d %v", n, err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO consent_events (subject, purpose, granted, time, source, notice_version) VALUES ('cus_a', 'marketing', 0, 1, '', '')`)
	conn.Close(ctx)
	if err != nil {
		t.Fatalf("a consent event after the restore: %v", err)
	}

	// Back up PostgreSQL, verify it.
	pgFile := filepath.Join(dir, "pg.backup")
	f, err := os.Create(pgFile)
	if err != nil {
		t.Fatal(err)
	}
	info, err := writeBackup(ctx, ps, "postgres", signer, f, []string{recipient}, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.AuditSeq != m.AuditSeq+1 {
		t.Fatalf("PostgreSQL backup at seq %d, want the restore's entry at %d", info.AuditSeq, m.AuditSeq+1)
	}
	code, out, errs = run(t, nil, "", "backup", "verify", pgFile, "--identity", identity, "--keys", keys)
	if code != 0 || !strings.Contains(out, "postgres store") {
		t.Fatalf("verify the PostgreSQL backup: %d %s %s", code, out, errs)
	}
	was := readFile(t, witness)
	code, out, errs = run(t, nil, "", "backup", "restore", file, "--identity", identity, "--keys", keys, "--database", dsn, "--witness", witness)
	if code != 2 || !strings.Contains(errs, "not empty") {
		t.Fatalf("restore into a non-empty database: %d %s %s", code, out, errs)
	}
	if readFile(t, witness) != was {
		t.Fatal("a refused restore appended to the witness")
	}

	// A config whose database: names PostgreSQL is the target of a restore
	// --config; its witness gets the checkpoint.
	cfg := filepath.Join(dir, "pg.yaml")
	writeFile(t, cfg, "data: "+data+"\ndatabase: "+pgtest.Schema(t)+"\nkeys: {provider: file, file: "+keys+"}\n")
	code, out, errs = run(t, nil, "", "backup", "restore", file, "--identity", identity, "--config", cfg)
	if code != 0 || !strings.Contains(out, "appended to "+witness) {
		t.Fatalf("restore --config into PostgreSQL: %d %s %s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(data, "coffer.db")); err != nil {
		t.Fatalf("the SQLite source changed: %v", err)
	}
}

// TestScheduledBackupOneNode: with PostgreSQL, a scheduled backup runs on
// the node holding the advisory lock only.
func TestScheduledBackupOneNode(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	if err := keyring.CreateFile(keys); err != nil {
		t.Fatal(err)
	}
	rk, signer, err := rootKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	a, err := postgres.Open(ctx, dsn, signer)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, dsn, signer)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v, err := vault.New(ctx, vault.Options{Store: a, Keys: rk, Schema: examples.Shop, SchemaName: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	_, recipient := keygen(t, dir)
	target := filepath.Join(dir, "backups")
	cfg := config.Config{Database: dsn, Backup: config.Backup{Every: "1h", Target: "dir://" + target, Recipients: []string{recipient}}}
	_, sched, err := backupService(v, a, cfg, signer, slog.New(slog.DiscardHandler))
	if err != nil || sched == nil || sched.lock == nil {
		t.Fatalf("scheduler on PostgreSQL without a lock: %v", err)
	}
	unlock, ok, err := b.TryLock(ctx, backupJob) // the other node
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	var once sync.Once
	release := func() { once.Do(unlock) }
	defer release() // before b.Close, which waits for the held connection
	if err := sched.locked(ctx); err != nil {
		t.Fatal(err)
	}
	if names, _, _ := sched.names(ctx); len(names) != 0 {
		t.Fatalf("a backup was taken while another node held the lock: %v", names)
	}
	release()
	if err := sched.locked(ctx); err != nil {
		t.Fatal(err)
	}
	names, _, _ := sched.names(ctx)
	if len(names) != 1 {
		t.Fatalf("no backup once the lock was free: %v", names)
	}
	// A drill's result rewrites the sidecar: not while another node holds
	// the backup's lock (it may be pruning that very backup).
	unlock2, ok, err := b.TryLock(ctx, backupJob)
	if err != nil || !ok {
		t.Fatalf("lock again: %v %v", ok, err)
	}
	err = sched.verified(ctx, names[0].name, vault.BackupVerification{OK: true, AuditSeq: 1})
	unlock2()
	if coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("a drill's result while another node holds the lock: %v, want conflict", err)
	}
	if err := sched.verified(ctx, names[0].name, vault.BackupVerification{OK: true, AuditSeq: 1}); err != nil {
		t.Fatalf("a drill's result once the lock is free: %v", err)
	}
}
