package vault_test

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// enrollOperator creates an operator as admin and enrolls it as the
// operator would (password, seed, a code at time at); it returns the TOTP
// secret. A login at the same TOTP step is a replay: move the clock on.
func enrollOperator(t *testing.T, v *vault.Vault, admin *vault.Call, username, password, role string, at time.Time) string {
	t.Helper()
	en, err := v.Identity.CreateOperator(ctx, admin, username, role)
	if err != nil {
		t.Fatal(err)
	}
	uri, err := v.Identity.Enroll(ctx, en.Token, password, netip.Addr{}, "req_enroll")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	secret := u.Query().Get("secret")
	code, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Identity.ConfirmEnrollment(ctx, en.Token, code, netip.Addr{}, "req_confirm"); err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestEnrollment (issue 15.5): the admin who creates an operator gets a
// single-use link and nothing else; the operator sets the password and
// scans the seed; no login works before the code is confirmed; the link is
// used up by the confirmation and dies after 72 hours; refusals are
// audited.
func TestEnrollment(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	v, err := vault.New(ctx, vault.Options{Store: f.store, Keys: f.keys, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.44")
	en, err := v.Identity.CreateOperator(ctx, f.admin, "carol", "support")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.Token, "cofe_") || !en.ExpiresAt.Equal(now.Add(72*time.Hour)) {
		t.Fatalf("enrollment = %+v", en)
	}
	op, err := f.store.Operator(ctx, "carol")
	if err != nil || strings.Contains(op.PasswordHash, en.Token) || len(op.TOTPSecret) != 0 || op.MFAEnrolled {
		t.Fatalf("stored operator before enrollment: %+v %v", op, err)
	}
	if _, _, err := v.Identity.Login(ctx, "carol", "", "123456", ip, "req_l0"); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("login before enrollment: %v", err)
	}
	if _, err := v.Identity.Enroll(ctx, "cofe_guess", "a long enough passphrase", ip, "req_g"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("a guessed token: %v", err)
	}
	if _, err := v.Identity.Enroll(ctx, en.Token, "password1234", ip, "req_b"); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("a blocklisted password: %v", err)
	}
	uri, err := v.Identity.Enroll(ctx, en.Token, "a quiet harbour at dawn", ip, "req_e")
	if err != nil || !strings.HasPrefix(uri, "otpauth://") {
		t.Fatalf("enroll: %q %v", uri, err)
	}
	u, _ := url.Parse(uri)
	code, _ := totp.GenerateCode(u.Query().Get("secret"), now)
	if _, _, err := v.Identity.Login(ctx, "carol", "a quiet harbour at dawn", code, ip, "req_l1"); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("login before the code is confirmed: %v", err)
	}
	if err := v.Identity.ConfirmEnrollment(ctx, en.Token, "000000", ip, "req_c0"); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("a wrong code: %v", err)
	}
	if err := v.Identity.ConfirmEnrollment(ctx, en.Token, code, ip, "req_c1"); err != nil {
		t.Fatal(err)
	}
	if err := v.Identity.ConfirmEnrollment(ctx, en.Token, code, ip, "req_c2"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("the link was used twice: %v", err)
	}
	if _, err := v.Identity.Enroll(ctx, en.Token, "another long passphrase", ip, "req_e2"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("the password was reset through a used link: %v", err)
	}
	now = now.Add(30 * time.Second)
	code, _ = totp.GenerateCode(u.Query().Get("secret"), now)
	if _, _, err := v.Identity.Login(ctx, "carol", "a quiet harbour at dawn", code, ip, "req_l2"); err != nil {
		t.Fatalf("login after enrollment: %v", err)
	}

	// A link dies after 72 hours.
	late, err := v.Identity.CreateOperator(ctx, f.admin, "dave", "support")
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(72 * time.Hour)
	if _, err := v.Identity.Enroll(ctx, late.Token, "another quiet harbour", ip, "req_x"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("an expired link: %v", err)
	}

	entries, err := f.store.Audit(ctx, coffer.AuditFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var refused, confirmed int
	for _, e := range entries {
		if strings.Contains(e.Action, "enroll") && e.Outcome == coffer.OutcomeDenied {
			refused++
		}
		if e.Action == "operator.enroll_confirm" && e.Outcome == coffer.OutcomeAllowed && e.Actor == "op:carol" {
			confirmed++
		}
		if strings.Contains(e.Reason+e.Record, en.Token) {
			t.Errorf("the enrollment token is in the audit log: %+v", e)
		}
	}
	if refused < 2 || confirmed != 1 {
		t.Errorf("%d refused enrollment attempts audited, %d confirmations", refused, confirmed)
	}
}
