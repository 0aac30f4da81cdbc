package vault_test

import (
	"crypto/sha256"
	"database/sql"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

func rawDB(t *testing.T, f *fixture) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "coffer.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// wantMACAudit: the refusal of actor's row is in the audit log.
func wantMACAudit(t *testing.T, f *fixture, actor string) {
	t.Helper()
	es, err := f.store.Audit(ctx, coffer.AuditFilter{Actor: actor, Desc: true, Limit: 1})
	if err != nil || len(es) != 1 || es[0].Outcome != coffer.OutcomeDenied || es[0].Reason != "credential_mac_failed" {
		t.Fatalf("audit of %s: %+v %v, want a denied credential_mac_failed entry", actor, es, err)
	}
}

// TestForgedAPIKeyRowsRefused: someone who can write the database holds a
// support key's token. A new admin row carrying that key's verifier, and
// the support key's own row raised to admin, are both refused and audited.
func TestForgedAPIKeyRowsRefused(t *testing.T) {
	f := newFixture(t)
	id, token, err := f.v.Identity.CreateAPIKey(ctx, f.admin, vault.NewAPIKey{Name: "mine", Role: "support"})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("127.0.0.1")
	if _, err := f.v.Identity.Authenticate(ctx, token, ip); err != nil {
		t.Fatalf("precondition: the genuine key: %v", err)
	}
	db := rawDB(t, f)
	short, secret, _ := strings.Cut(strings.TrimPrefix(token, "coffer_"), "_")
	// A minted row: the known verifier, role admin, the MAC of the
	// genuine row (or none) — the attacker cannot compute a new one.
	exec(t, db, `INSERT INTO api_keys (id, name, role, hash, allowed_cidrs, created_at, expires_at, revoked_at, mac)
		SELECT 'key_forged', 'forged', 'admin', hash, '', created_at, 0, 0, mac FROM api_keys WHERE id = ?`, id)
	if _, err := f.v.Identity.Authenticate(ctx, "coffer_forged_"+secret, ip); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("minted admin row: %v, want unauthenticated", err)
	}
	wantMACAudit(t, f, "key_forged")
	// An old-style row (SHA-256 of a secret the attacker chose) does not
	// even pass the verifier.
	exec(t, db, `INSERT INTO api_keys (id, name, role, hash, allowed_cidrs, created_at, expires_at, revoked_at) VALUES ('key_plain', 'p', 'admin', ?, '', 1, 0, 0)`,
		func() []byte { h := sha256.Sum256([]byte("chosen")); return h[:] }())
	if _, err := f.v.Identity.Authenticate(ctx, "coffer_plain_chosen", ip); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("SHA-256 row: %v, want unauthenticated", err)
	}
	// The genuine key's role raised in place.
	exec(t, db, `UPDATE api_keys SET role = 'admin' WHERE id = ?`, id)
	f.advance(time.Minute) // past the key cache
	if _, err := f.v.Identity.Authenticate(ctx, "coffer_"+short+"_"+secret, ip); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("raised role: %v, want unauthenticated", err)
	}
	wantMACAudit(t, f, id)
}

// TestRaisedOperatorRoleRefused: an operator's role raised in the
// database: its session and its next login are refused and audited.
func TestRaisedOperatorRoleRefused(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	v, err := vault.New(ctx, vault.Options{Store: f.store, Keys: f.keys, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	secret := enrollOperator(t, v, f.admin, "alice", "a long enough passphrase", "support", now)
	now = now.Add(time.Minute) // the enrollment used this step's code
	code, _ := totp.GenerateCode(secret, now)
	ip := netip.MustParseAddr("192.0.2.10")
	session, _, err := v.Identity.Login(ctx, "alice", "a long enough passphrase", code, ip, "req_1")
	if err != nil {
		t.Fatal(err)
	}
	if a, err := v.Identity.Authenticate(ctx, session, ip); err != nil || a.RoleName != "support" {
		t.Fatalf("precondition: the session: %+v %v", a, err)
	}
	exec(t, rawDB(t, f), `UPDATE operators SET role = 'admin' WHERE username = 'alice'`)
	if a, err := v.Identity.Authenticate(ctx, session, ip); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("session after the role was raised: %+v %v, want unauthenticated", a, err)
	}
	wantMACAudit(t, f, "op:alice")
	now = now.Add(time.Minute)
	code, _ = totp.GenerateCode(secret, now)
	if _, _, err := v.Identity.Login(ctx, "alice", "a long enough passphrase", code, ip, "req_2"); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("login after the role was raised: %v, want unauthenticated", err)
	}
	wantMACAudit(t, f, "op:alice")
}

// TestCredentialMigrationAndSchemaMAC: rows written before MACs existed
// (SHA-256 verifiers, no MACs) keep working after the first start with
// the keys, which MACs them in one audited write; a schema document edited
// in the database afterwards keeps the vault from unsealing.
func TestCredentialMigrationAndSchemaMAC(t *testing.T) {
	f := newFixture(t)
	_, token, err := f.v.Identity.CreateAPIKey(ctx, f.admin, vault.NewAPIKey{Name: "old", Role: "support"})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := strings.Cut(strings.TrimPrefix(token, "coffer_"), "_")
	h := sha256.Sum256([]byte(secret))
	db := rawDB(t, f)
	exec(t, db, `UPDATE api_keys SET hash = ? WHERE name = 'old'`, h[:]) // as written before verifiers
	exec(t, db, `UPDATE api_keys SET mac = NULL`)
	exec(t, db, `UPDATE operators SET mac = NULL`)
	exec(t, db, `UPDATE schema_doc SET mac = NULL`)
	v, err := vault.New(ctx, vault.Options{Store: f.store, Keys: f.keys})
	if err != nil {
		t.Fatalf("first start with the keys: %v", err)
	}
	if _, err := v.Identity.Authenticate(ctx, token, netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatalf("a migrated key: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM api_keys WHERE mac IS NULL`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d keys left without a MAC (%v)", n, err)
	}
	if es, _ := f.store.Audit(ctx, coffer.AuditFilter{Actor: "system:unseal", Desc: true, Limit: 1}); len(es) != 1 || es[0].Action != "credentials.migrate" {
		t.Fatalf("migration not audited: %+v", es)
	}
	// Rows written outside Coffer after the migration are not migrated.
	exec(t, db, `UPDATE api_keys SET role = 'admin', mac = NULL WHERE name = 'old'`)
	v, err = vault.New(ctx, vault.Options{Store: f.store, Keys: f.keys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Identity.Authenticate(ctx, token, netip.MustParseAddr("127.0.0.1")); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("a row stripped of its MAC after the migration: %v, want unauthenticated", err)
	}
	// Nor when the schema's MAC is stripped too: other rows still carry
	// theirs, so this is not a first start.
	var mac []byte
	if err := db.QueryRow(`SELECT mac FROM schema_doc`).Scan(&mac); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `UPDATE schema_doc SET mac = NULL`)
	if _, err := vault.New(ctx, vault.Options{Store: f.store, Keys: f.keys}); err == nil {
		t.Fatal("a store stripped of its schema MAC was migrated again")
	}
	if n := 0; db.QueryRow(`SELECT count(*) FROM api_keys WHERE mac IS NULL`).Scan(&n) != nil || n != 1 {
		t.Fatalf("%d keys without a MAC, want the stripped one left alone", n)
	}
	exec(t, db, `UPDATE schema_doc SET mac = ?`, mac)
	exec(t, db, `UPDATE schema_doc SET doc = CAST(doc || char(10) || '# edited' AS BLOB)`)
	if _, err := vault.New(ctx, vault.Options{Store: f.store, Keys: f.keys}); err == nil {
		t.Fatal("a schema edited in the database was accepted")
	}
	if es, _ := f.store.Audit(ctx, coffer.AuditFilter{Actor: "system:unseal", Desc: true, Limit: 1}); len(es) != 1 || es[0].Reason != "credential_mac_failed" {
		t.Fatalf("schema refusal not audited: %+v", es)
	}
}
