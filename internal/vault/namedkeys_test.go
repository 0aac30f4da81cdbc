package vault_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// TestFPEKeyRotation: an FPE key name is a versioned key. Encrypting
// answers the current version; a rotation (admin only, audited) makes the
// next one current, and the same value then encrypts to another
// ciphertext; each ciphertext decrypts under its version, the current one
// by default; an unknown version is a 400 naming version, echoing nothing.
func TestFPEKeyRotation(t *testing.T) {
	f := newFixture(t, canaryPAN)
	billing := f.call(t, "billing", "billing")
	fpeCall := func(req vault.FPERequest, decrypt bool) *vault.FPEResult {
		t.Helper()
		out, err := f.v.Tokens.FPE(ctx, billing, req, decrypt)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	v1 := fpeCall(vault.FPERequest{Key: "cards", Values: []string{canaryPAN}}, false)
	if v1.Version != 1 {
		t.Fatalf("encrypt before any rotation: version %d, want 1", v1.Version)
	}
	if again := fpeCall(vault.FPERequest{Key: "cards", Values: []string{canaryPAN}}, false); again.Values[0] != v1.Values[0] {
		t.Fatal("FPE under one version is not deterministic")
	}
	if _, err := f.v.Admin.RotateNamedKey(ctx, billing, coffer.NamedKeyFPE, "cards"); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Fatalf("billing rotated an FPE key: %v, want forbidden", err)
	}
	if ver, err := f.v.Admin.RotateNamedKey(ctx, f.admin, coffer.NamedKeyFPE, "cards"); err != nil || ver != 2 {
		t.Fatalf("rotate: %d, %v; want version 2", ver, err)
	}
	v2 := fpeCall(vault.FPERequest{Key: "cards", Values: []string{canaryPAN}}, false)
	if v2.Version != 2 || v2.Values[0] == v1.Values[0] {
		t.Fatalf("encrypt after the rotation: version %d, same ciphertext %t; want 2, false", v2.Version, v2.Values[0] == v1.Values[0])
	}
	for _, c := range []struct {
		version uint32
		in      string
		want    uint32
	}{{1, v1.Values[0], 1}, {2, v2.Values[0], 2}, {0, v2.Values[0], 2}} {
		got := fpeCall(vault.FPERequest{Key: "cards", Version: c.version, Values: []string{c.in}}, true)
		if got.Values[0] != canaryPAN || got.Version != c.want {
			t.Errorf("decrypt asking version %d: version %d, the original %t", c.version, got.Version, got.Values[0] == canaryPAN)
		}
	}
	if got := fpeCall(vault.FPERequest{Key: "cards", Values: []string{v1.Values[0]}}, true); got.Values[0] == canaryPAN {
		t.Error("a version-1 ciphertext decrypted under the current version 2")
	}
	// Another name is not moved by the rotation of cards.
	if other := fpeCall(vault.FPERequest{Key: "default", Values: []string{canaryPAN}}, false); other.Version != 1 {
		t.Errorf("default after cards rotated: version %d", other.Version)
	}
	for _, bad := range []vault.FPERequest{
		{Key: "cards", Version: 99, Values: []string{v2.Values[0]}},
		{Key: "default", Version: 2, Values: []string{v2.Values[0]}},
	} {
		_, err := f.v.Tokens.FPE(ctx, billing, bad, true)
		if coffer.ErrorCode(err) != coffer.EINVALID || !strings.HasPrefix(coffer.ErrorMessage(err), "version:") ||
			strings.Contains(err.Error(), "99") || strings.Contains(err.Error(), v2.Values[0]) {
			t.Errorf("decrypt under unknown version %d of %s: %v", bad.Version, bad.Key, err)
		}
	}
	if _, err := f.v.Tokens.FPE(ctx, billing, vault.FPERequest{Key: "cards", Version: 1, Values: []string{canaryPAN}}, false); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Errorf("encrypt under an older version: %v, want invalid", err)
	}
	st, err := f.v.Admin.KeyStatus(ctx, f.admin, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.NamedKeys) != 1 || st.NamedKeys[0] != (vault.NamedKeyStatus{Kind: coffer.NamedKeyFPE, Name: "cards", Current: 2, DerivedVersion: 1}) {
		t.Errorf("named keys in the status: %+v", st.NamedKeys)
	}
	var allowed, denied int
	log, err := f.store.Audit(ctx, coffer.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range log {
		if e.Action != "keys.rotate" {
			continue
		}
		switch e.Outcome {
		case coffer.OutcomeAllowed:
			allowed++
		case coffer.OutcomeDenied:
			denied++
		}
		if strings.Contains(e.Reason, canaryPAN) {
			t.Errorf("a value in the rotation's audit entry: %q", e.Reason)
		}
	}
	if allowed != 1 || denied != 1 {
		t.Errorf("rotations audited: %d allowed, %d denied; want 1 and 1", allowed, denied)
	}
}

// TestDeterministicTokenRotation: a deterministic tokenization answers the
// namespace's current version; after a rotation the same value gets
// another token (stable within the version), and tokens of both versions
// detokenize to the value.
func TestDeterministicTokenRotation(t *testing.T) {
	f := newFixture(t, canaryPAN)
	billing := f.call(t, "billing", "billing")
	det := func() (string, uint32) {
		t.Helper()
		out, ver, err := f.v.Tokens.TokenizeVersion(ctx, billing, vault.TokenizeRequest{Namespace: "cards", Deterministic: true,
			Values: []vault.TokenValue{{Value: canaryPAN, Format: "card"}}})
		if err != nil {
			t.Fatal(err)
		}
		return out[0], ver
	}
	t1, ver1 := det()
	if ver1 != 1 {
		t.Fatalf("version before any rotation: %d", ver1)
	}
	if _, err := f.v.Admin.RotateNamedKey(ctx, billing, coffer.NamedKeyToken, "cards"); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Fatalf("billing rotated a namespace: %v", err)
	}
	if ver, err := f.v.Admin.RotateNamedKey(ctx, f.admin, coffer.NamedKeyToken, "cards"); err != nil || ver != 2 {
		t.Fatalf("rotate: %d, %v", ver, err)
	}
	t2, ver2 := det()
	if t3, _ := det(); ver2 != 2 || t2 == t1 || t3 != t2 {
		t.Fatalf("after the rotation: version %d, new token %t, stable %t", ver2, t2 != t1, t3 == t2)
	}
	vals, err := f.v.Tokens.Detokenize(ctx, billing, []string{t1, t2})
	if err != nil || vals[0] != canaryPAN || vals[1] != canaryPAN {
		t.Fatalf("detokenize both versions' tokens: %v", err)
	}
	// Random tokens name no version; the FPE key of the same name did not move.
	if _, ver, err := f.v.Tokens.TokenizeVersion(ctx, billing, vault.TokenizeRequest{Namespace: "cards", Values: []vault.TokenValue{{Value: canaryPAN, Format: "card"}}}); err != nil || ver != 0 {
		t.Errorf("random tokens: version %d, %v", ver, err)
	}
	if out, err := f.v.Tokens.FPE(ctx, billing, vault.FPERequest{Key: "cards", Values: []string{canaryPAN}}, false); err != nil || out.Version != 1 {
		t.Errorf("the FPE key cards moved with the namespace: %v", err)
	}
	for _, bad := range []struct {
		kind coffer.NamedKeyKind
		name string
	}{{coffer.NamedKeyToken, "Cards"}, {coffer.NamedKeyFPE, ""}, {"derived", "cards"}} {
		if _, err := f.v.Admin.RotateNamedKey(ctx, f.admin, bad.kind, bad.name); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("rotate %s %q: %v", bad.kind, bad.name, err)
		}
	}
}

// TestNamedKeyRotationSeenByOtherNodes: on PostgreSQL the current version
// is the shared table's, read per call: a rotation through node A is what
// node B encrypts and tokenizes under next, and B decrypts A's ciphertexts
// of both versions.
func TestNamedKeyRotationSeenByOtherNodes(t *testing.T) {
	a, b, _ := twoNodes(t)
	_, billingToken, err := a.v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "billing", Role: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	billing := func(n *pgNode) *vault.Call {
		act, err := n.v.Identity.Authenticate(ctx, billingToken, netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		return &vault.Call{Actor: act, Purpose: "billing", RequestID: "req_node"}
	}
	enc := func(n *pgNode) *vault.FPEResult {
		t.Helper()
		out, err := n.v.Tokens.FPE(ctx, billing(n), vault.FPERequest{Key: "cards", Values: []string{canaryPAN}}, false)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := enc(b) // B builds and caches its version-1 cipher
	if _, err := a.v.Admin.RotateNamedKey(ctx, a.admin, coffer.NamedKeyFPE, "cards"); err != nil {
		t.Fatal(err)
	}
	after := enc(b)
	if after.Version != 2 || after.Values[0] == before.Values[0] || enc(a).Values[0] != after.Values[0] {
		t.Fatalf("B after A's rotation: version %d, new ciphertext %t", after.Version, after.Values[0] != before.Values[0])
	}
	for ver, ct := range map[uint32]string{1: before.Values[0], 2: after.Values[0]} {
		out, err := b.v.Tokens.FPE(ctx, billing(b), vault.FPERequest{Key: "cards", Version: ver, Values: []string{ct}}, true)
		if err != nil || out.Values[0] != canaryPAN {
			t.Errorf("B decrypts version %d: %v", ver, err)
		}
	}
	tok := func(n *pgNode) (string, uint32) {
		t.Helper()
		out, ver, err := n.v.Tokens.TokenizeVersion(ctx, billing(n), vault.TokenizeRequest{Namespace: "cards", Deterministic: true, Values: []vault.TokenValue{{Value: canaryPAN}}})
		if err != nil {
			t.Fatal(err)
		}
		return out[0], ver
	}
	t1, _ := tok(b)
	if _, err := a.v.Admin.RotateNamedKey(ctx, a.admin, coffer.NamedKeyToken, "cards"); err != nil {
		t.Fatal(err)
	}
	if t2, ver := tok(b); ver != 2 || t2 == t1 {
		t.Errorf("B's deterministic token after A's rotation: version %d, new %t", ver, t2 != t1)
	}
}
