package vault_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/vault"
)

func TestOperatorLifecycle(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	keys, _ := (&keyring.File{Path: filepath.Join(f.dir, "keys.json")}).Keys()
	v, err := vault.New(ctx, vault.Options{Store: f.store, Keys: keys, Now: func() time.Time { return now },
		Policy: vault.SecurityPolicy{Version: "2026-11", Text: "Be careful."}})
	if err != nil {
		t.Fatal(err)
	}
	rec := f.create(t, "cus_1", map[string]any{"email": "op-view@example.com", "name": "Viewed Person"})
	ip := netip.MustParseAddr("192.0.2.10")

	if _, err := v.Identity.CreateOperator(ctx, f.admin, "alice", "ghost"); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("unknown role: %v", err)
	}
	secret := enrollOperator(t, v, f.admin, "alice", "a long enough passphrase", "support", now)
	if _, err := v.Identity.CreateOperator(ctx, f.admin, "alice", "support"); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("duplicate operator: %v", err)
	}
	now = now.Add(30 * time.Second) // the enrollment used this step's code
	code := func() string {
		c, err := totp.GenerateCode(secret, now)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	if _, _, err := v.Identity.Login(ctx, "alice", "a long enough passphrase", "12345", ip, "req_0"); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("malformed code: %v", err)
	}
	if _, _, err := v.Identity.Login(ctx, "alice", "a long enough passphrase", "000000", ip, "req_1"); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("wrong code: %v", err)
	}
	token, expires, err := v.Identity.Login(ctx, "alice", "a long enough passphrase", code(), ip, "req_2")
	if err != nil || !strings.HasPrefix(token, "cofs_") || !expires.Equal(now.Add(12*time.Hour)) {
		t.Fatalf("login: %q %v %v", token, expires, err)
	}
	if _, _, err := v.Identity.Login(ctx, "alice", "a long enough passphrase", code(), ip, "req_3"); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("a TOTP code was accepted twice: %v", err)
	}

	// Logged in, MFA confirmed, but the policy is not acknowledged: no data.
	a, err := v.Identity.Authenticate(ctx, token, ip)
	if err != nil || a.ID != "op:alice" || !a.MFAEnrolled || a.PolicyAcked {
		t.Fatalf("actor = %+v, %v", a, err)
	}
	call := &vault.Call{Actor: a, Purpose: "support"}
	if _, err := v.Records.Get(ctx, call, "customers", rec.ID); coffer.ErrorCode(err) != coffer.EFORBIDDEN || !strings.Contains(coffer.ErrorMessage(err), "security policy") {
		t.Fatalf("read before acknowledging: %v", err)
	}
	if err := v.Identity.AcknowledgePolicy(ctx, call, "alice", "2025-01"); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("old policy version: %v", err)
	}
	if err := v.Identity.AcknowledgePolicy(ctx, f.admin, "alice", "2026-11"); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Fatalf("acknowledging for someone else: %v", err)
	}
	if err := v.Identity.AcknowledgePolicy(ctx, call, "alice", "2026-11"); err != nil {
		t.Fatal(err)
	}
	// Acknowledged, but no training on record: still no plaintext.
	a, _ = v.Identity.Authenticate(ctx, token, ip)
	call.Actor = a
	if _, err := v.Records.Get(ctx, call, "customers", rec.ID); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Fatalf("read without training: %v", err)
	}
	if err := v.Identity.RecordTraining(ctx, f.admin, "alice", now.Add(time.Hour)); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("training in the future: %v", err)
	}
	if err := v.Identity.RecordTraining(ctx, call, "alice", now); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Fatalf("an operator recorded its own training: %v", err)
	}
	if err := v.Identity.RecordTraining(ctx, f.admin, "alice", now.Add(-366*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if a, _ = v.Identity.Authenticate(ctx, token, ip); a.PolicyAcked {
		t.Fatal("a training older than its validity counts")
	}
	if err := v.Identity.RecordTraining(ctx, f.admin, "alice", now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	a, _ = v.Identity.Authenticate(ctx, token, ip)
	call.Actor = a
	got, err := v.Records.Get(ctx, call, "customers", rec.ID)
	if err != nil || string(got.Fields["name"]) != `"Viewed Person"` || string(got.Fields["email"]) != `"o******@e******.com"` {
		t.Fatalf("read after acknowledging: %v %v", got, err)
	}
	if entries, _ := f.store.Audit(ctx, coffer.AuditFilter{Actor: "op:alice", Desc: true, Limit: 1}); len(entries) != 1 || entries[0].Action != "read" {
		t.Fatalf("operator read not audited under its name: %+v", entries)
	}

	// Idle sessions end.
	now = now.Add(31 * time.Minute)
	if _, err := v.Identity.Authenticate(ctx, token, ip); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("idle session still valid: %v", err)
	}

	// Failures slow down this (username, source) pair only: after the free
	// ones it must wait, even with the right password, while the rightful
	// operator from another source gets in at once. The replayed code
	// above was the first failure.
	for i := range 3 {
		if _, _, err := v.Identity.Login(ctx, "alice", "not the passphrase!", code(), ip, "req"); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, _, err := v.Identity.Login(ctx, "alice", "a long enough passphrase", code(), ip, "req"); coffer.ErrorCode(err) != coffer.ERATELIMITED {
		t.Fatalf("login from the failing source while throttled: %v", err)
	}
	token, _, err = v.Identity.Login(ctx, "alice", "a long enough passphrase", code(), netip.MustParseAddr("192.0.2.11"), "req")
	if err != nil {
		t.Fatalf("login from another source: %v", err)
	}

	// An admin lock ends the sessions; unlocking allows a new login.
	if err := v.Identity.SetOperatorLock(ctx, f.admin, "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Identity.Authenticate(ctx, token, ip); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("session survived the lock: %v", err)
	}
	now = now.Add(30 * time.Second)
	if _, _, err := v.Identity.Login(ctx, "alice", "a long enough passphrase", code(), netip.MustParseAddr("192.0.2.12"), "req"); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Fatalf("login while locked: %v", err)
	}
	if err := v.Identity.SetOperatorLock(ctx, f.admin, "alice", false); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second)
	token, _, err = v.Identity.Login(ctx, "alice", "a long enough passphrase", code(), netip.MustParseAddr("192.0.2.12"), "req")
	if err != nil {
		t.Fatalf("login after unlock: %v", err)
	}
	a, _ = v.Identity.Authenticate(ctx, token, ip)
	if err := v.Identity.Logout(ctx, &vault.Call{Actor: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Identity.Authenticate(ctx, token, ip); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("session valid after logout: %v", err)
	}
	if _, _, err := v.Identity.Login(ctx, "nobody", "whatever password", "123456", ip, "req"); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("unknown operator: %v", err)
	}
}
