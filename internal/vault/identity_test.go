package vault_test

import (
	"database/sql"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// TestStoredCIDRsFailClosed: an API key whose stored allowed networks do
// not parse (a corrupted or tampered row) is refused everywhere, never
// treated as unrestricted (the finding: every entry dropped → no limit).
func TestStoredCIDRsFailClosed(t *testing.T) {
	f := newFixture(t)
	created, token, err := f.v.Identity.CreateAPIKey(ctx, f.admin, vault.NewAPIKey{Name: "k", Role: "support", AllowedCIDRs: []string{"10.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "coffer.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE api_keys SET allowed_cidrs = '10.0.0.0/33' WHERE name = 'k'`); err != nil {
		t.Fatal(err)
	}
	refused := func(when string, v *vault.Vault) {
		t.Helper()
		for _, from := range []string{"10.1.2.3", "192.0.2.1"} {
			a, err := v.Identity.Authenticate(ctx, token, netip.MustParseAddr(from))
			if err == nil && len(a.AllowedCIDRs) == 0 {
				t.Fatalf("%s, from %s: authenticated with no network restriction", when, from)
			}
			if err == nil {
				t.Fatalf("%s, from %s: a key whose stored networks do not parse authenticated", when, from)
			}
			if c := coffer.ErrorCode(err); c != coffer.EUNAUTHENTICATED {
				t.Errorf("%s, from %s: code %s, want %s", when, from, c, coffer.EUNAUTHENTICATED)
			}
		}
	}
	// Edited underneath: the row's MAC no longer verifies.
	refused("edited row", f.v)
	// A row that verifies yet holds a network that does not parse (written
	// by a release that did not validate, then signed by the credential
	// migration): refused by the parse itself, never left unrestricted.
	k, err := f.store.APIKey(ctx, created)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.AllowedCIDRs) != 1 || k.AllowedCIDRs[0] != "10.0.0.0/33" {
		t.Fatalf("stored networks %q", k.AllowedCIDRs)
	}
	vault.SignAPIKeyRow(f.v, k)
	if _, err := db.Exec(`UPDATE api_keys SET mac = ? WHERE id = ?`, k.MAC, k.ID); err != nil {
		t.Fatal(err)
	}
	// A vault that starts now (the first one keeps the key row cached).
	v, err := vault.New(ctx, vault.Options{Store: f.store, Keys: f.keys})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	refused("signed row", v)
}

// TestLoginUnderAttack: an attacker hammering the admin's username from one
// source neither locks the admin out nor learns whether a name exists:
// once throttled, a known and an unknown name answer alike.
func TestLoginUnderAttack(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) // a frozen clock: the throttle's waits are exact
	v, err := vault.New(ctx, vault.Options{Store: f.store, Keys: f.keys, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	now = now.Add(-time.Minute) // enrolled a minute before the attack: the login's code is a new one
	secret := enrollOperator(t, f.v, f.admin, "root-admin", "a long enough passphrase", "admin", now)
	now = now.Add(time.Minute)
	attacker, home := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("198.51.100.7")
	// hammer makes 40 wrong guesses for name from src and returns the
	// answers' codes and messages.
	hammer := func(name string, src netip.Addr) []string {
		var got []string
		for range 40 {
			_, _, err := f.v.Identity.Login(ctx, name, "guess guess guess", "123456", src, "req_a")
			got = append(got, string(coffer.ErrorCode(err))+": "+coffer.ErrorMessage(err))
		}
		return got
	}
	known := hammer("root-admin", attacker)
	unknown := hammer("nobody-here", netip.MustParseAddr("203.0.113.10"))
	if diff := cmp.Diff(known, unknown); diff != "" {
		t.Fatalf("a known and an unknown name answer differently (-known +unknown):\n%s", diff)
	}
	throttled := 0
	for _, a := range known {
		if strings.HasPrefix(a, string(coffer.ERATELIMITED)) {
			throttled++
		}
	}
	if throttled < 30 {
		t.Fatalf("only %d of 40 guesses were throttled: %v", throttled, known)
	}
	code, err := totp.GenerateCode(secret, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.v.Identity.Login(ctx, "root-admin", "a long enough passphrase", code, home, "req_h"); err != nil {
		t.Fatalf("the rightful admin could not sign in during the attack: %v", err)
	}
	// Every attempt, throttled or not, is audited (besides the two
	// enrollment steps).
	entries, err := f.store.Audit(ctx, coffer.AuditFilter{Actor: "op:root-admin", Limit: 100})
	if err != nil || len(entries) != 43 {
		t.Fatalf("%d audit entries for op:root-admin (%v), want 41 logins and 2 enrollment steps", len(entries), err)
	}
}
