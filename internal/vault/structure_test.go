package vault_test

import (
	"net/netip"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// TestSealDropsEveryKey: the DEK cache, the token-namespace keys and the
// FPE ciphers are all emptied by Seal, and data calls answer ESEALED
// until Unseal.
func TestSealDropsEveryKey(t *testing.T) {
	f := newFixture(t)
	rec := f.create(t, "cus_sealed", map[string]any{"email": "seal-keys@example.com"})
	if _, err := f.v.Records.Get(ctx, f.admin, "customers", rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Tokens.Tokenize(ctx, f.admin, vault.TokenizeRequest{Values: []vault.TokenValue{{Value: "v"}}}); err != nil {
		t.Fatal(err)
	}
	// FPE encryption needs the detokenize right (SPEC §3): billing has it on "cards".
	if _, err := f.v.Tokens.FPE(ctx, f.call(t, "billing", "billing"), vault.FPERequest{Key: "cards", Values: []string{"1234567890"}}, false); err != nil {
		t.Fatal(err)
	}
	k := vault.Keys(f.v)
	if !k.DEK("cus_sealed") || k.TokenKeys() == 0 || k.FPECiphers() == 0 {
		t.Fatalf("before sealing: DEK cached %v, %d token keys, %d FPE ciphers", k.DEK("cus_sealed"), k.TokenKeys(), k.FPECiphers())
	}
	f.v.Seal()
	if !f.v.Sealed() {
		t.Fatal("not sealed")
	}
	if k.DEK("cus_sealed") || k.TokenKeys() != 0 || k.FPECiphers() != 0 {
		t.Errorf("after sealing: DEK cached %v, %d token keys, %d FPE ciphers", k.DEK("cus_sealed"), k.TokenKeys(), k.FPECiphers())
	}
	if _, err := f.v.Tokens.FPE(ctx, f.admin, vault.FPERequest{Key: "k1", Values: []string{"1234567890"}}, false); coffer.ErrorCode(err) != coffer.ESEALED {
		t.Errorf("FPE while sealed: %v", err)
	}
	if err := f.v.Unseal(f.keys); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Records.Get(ctx, f.admin, "customers", rec.ID); err != nil {
		t.Errorf("read after unsealing again: %v", err)
	}
}

// TestSealedAuthenticatesNoOne: the sealed rule lives in the vault: no
// token authenticates while sealed, so no call (admin ones included) runs.
func TestSealedAuthenticatesNoOne(t *testing.T) {
	f := newFixture(t)
	_, token, err := f.v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "k", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	f.v.Seal()
	if _, err := f.v.Identity.Authenticate(ctx, token, netip.Addr{}); coffer.ErrorCode(err) != coffer.ESEALED {
		t.Errorf("authenticate while sealed: %v", err)
	}
	if _, err := f.v.Tokens.Detokenize(ctx, f.admin, []string{"tok"}); coffer.ErrorCode(err) != coffer.ESEALED {
		t.Errorf("detokenize while sealed: %v", err)
	}
}

// TestErasureDropsCachedDEK: completing an erasure removes the subject's
// unwrapped key from memory, not only its wrapped key from the store.
func TestErasureDropsCachedDEK(t *testing.T) {
	f := newFixture(t)
	rec := f.create(t, "cus_erased", map[string]any{"email": "erase-dek@example.com"})
	if _, err := f.v.Records.Get(ctx, f.admin, "customers", rec.ID); err != nil {
		t.Fatal(err)
	}
	if !vault.CachedDEK(f.v, "cus_erased") {
		t.Fatal("the DEK is not cached after a read")
	}
	r, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: "cus_erased"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"verify", "complete"} {
		if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: a}); err != nil {
			t.Fatal(a, err)
		}
	}
	if vault.CachedDEK(f.v, "cus_erased") {
		t.Error("the erased subject's DEK is still cached")
	}
}

// TestSearchMatchesEveryWhereField: records matching the first field but
// not the second are left out.
func TestSearchMatchesEveryWhereField(t *testing.T) {
	f := newFixture(t)
	want := f.create(t, "cus_s1", map[string]any{"email": "same@example.com", "phone": "+49 30 1111111"})
	f.create(t, "cus_s2", map[string]any{"email": "same@example.com", "phone": "+49 30 2222222"})
	f.create(t, "cus_s3", map[string]any{"email": "same@example.com"})
	recs, err := f.v.Records.Search(ctx, f.admin, "customers", raw(map[string]any{"email": "same@example.com", "phone": "+49 30 1111111"}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != want.ID {
		t.Errorf("search on email and phone: %d records, want only %s", len(recs), want.ID)
	}
	recs, err = f.v.Records.Search(ctx, f.admin, "customers", raw(map[string]any{"phone": "+49 30 2222222", "email": "other@example.com"}), 0)
	if err != nil || len(recs) != 0 {
		t.Errorf("search with a non-matching email: %d records, %v", len(recs), err)
	}
}

// TestAPIKeyCIDRsValidated: an allowed network that is not a CIDR prefix
// is refused, not stored and silently ignored.
func TestAPIKeyCIDRsValidated(t *testing.T) {
	f := newFixture(t)
	for _, cidrs := range [][]string{{"not-a-cidr"}, {"10.0.0.0/8", "10.0.0.1"}, {"300.0.0.0/8"}} {
		if _, _, err := f.v.Identity.CreateAPIKey(ctx, f.admin, vault.NewAPIKey{Name: "k", Role: "support", AllowedCIDRs: cidrs}); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("allowed_cidrs %q: %v, want invalid", cidrs, err)
		}
	}
	if _, _, err := f.v.Identity.CreateAPIKey(ctx, f.admin, vault.NewAPIKey{Name: "k", Role: "support", AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}}); err != nil {
		t.Errorf("valid prefixes: %v", err)
	}
}

// TestOperatorUsernameValidated: usernames go into audit entries and URLs.
func TestOperatorUsernameValidated(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"Alice", "a", "al ice", "1alice", "alice@example.com", "op:alice"} {
		if _, err := f.v.Identity.CreateOperator(ctx, f.admin, name, "support"); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("username %q: %v, want invalid", name, err)
		}
	}
}

// TestEmptyCallIsNotTheSystem: a Call without an actor is refused; only
// SystemCall acts as the system.
func TestEmptyCallIsNotTheSystem(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.v.Identity.CreateAPIKey(ctx, &vault.Call{}, vault.NewAPIKey{Name: "k", Role: "admin"}); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Errorf("create key with an empty call: %v", err)
	}
	if _, err := f.v.Admin.Audit(ctx, &vault.Call{}, coffer.AuditFilter{}); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Errorf("read the audit log with an empty call: %v", err)
	}
	if _, err := f.v.Admin.Audit(ctx, nil, coffer.AuditFilter{}); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Errorf("read the audit log with a nil call: %v", err)
	}
	if _, err := f.v.Records.Create(ctx, vault.SystemCall(), "customers", []coffer.NewRecord{{Fields: raw(map[string]any{"email": "sys@example.com"})}}); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Errorf("the system writing a record: %v", err)
	}
	id, _, err := f.v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "k", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := f.v.Admin.Audit(ctx, f.admin, coffer.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == "api_key.create" && e.Record == id && e.Actor != "system" {
			t.Errorf("system key creation audited as %q", e.Actor)
		}
	}
}

// TestRefusedFPEBuildsNoCipher: the decision comes before the cipher; a
// refused call leaves no key material behind.
func TestRefusedFPEBuildsNoCipher(t *testing.T) {
	f := newFixture(t)
	support := f.call(t, "support", "support")
	if _, err := f.v.Tokens.FPE(ctx, support, vault.FPERequest{Key: "secret", Values: []string{"1234567890"}}, false); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Fatalf("support encrypting: %v", err)
	}
	if n := vault.FPECiphers(f.v); n != 0 {
		t.Errorf("a refused call built %d FPE ciphers", n)
	}
}
