package seal

import (
	"bytes"
	"crypto/rand"
	"hash"
	"testing"

	"github.com/cofferhq/coffer"
)

func withDerived(keys *coffer.RootKeys, v uint32) *coffer.RootKeys {
	cp := *keys
	cp.Derived = map[uint32]coffer.Secret{}
	for k, s := range keys.Derived {
		cp.Derived[k] = s
	}
	b := make([]byte, keySize)
	rand.Read(b)
	cp.Derived[v], cp.DerivedCurrent = coffer.NewSecret(b), v
	return &cp
}

// TestBlindIndexUnderDerivedVersions: version 1 is the blind index as it
// always was; an installed version 2 gives other hashes and becomes
// current; a version not held is refused, and Install refuses keys whose
// derived root of a held version differs, or that lack a held version.
func TestBlindIndexUnderDerivedVersions(t *testing.T) {
	keys := testKeys()
	s, err := New(keys)
	if err != nil {
		t.Fatal(err)
	}
	val := []byte("jane@example.com")
	h1, err := s.BlindIndexAt(1, "customers", "email", val)
	if err != nil || !bytes.Equal(h1, s.blindIndex("customers", "email", val)) {
		t.Fatalf("version 1: %x, %v; want BlindIndex's", h1, err)
	}
	if _, err := s.BlindIndexAt(2, "customers", "email", val); err == nil {
		t.Fatal("a hash under a version not held")
	}
	k2 := withDerived(keys, 2)
	if err := s.Install(k2); err != nil {
		t.Fatal(err)
	}
	h2, err := s.BlindIndexAt(2, "customers", "email", val)
	if err != nil || bytes.Equal(h1, h2) || s.DerivedVersion() != 2 {
		t.Fatalf("version 2: %x (v1 %x), %v, current %d", h2, h1, err, s.DerivedVersion())
	}
	if h1again, _ := s.BlindIndexAt(1, "customers", "email", val); !bytes.Equal(h1, h1again) {
		t.Error("version 1's hash changed with the rotation")
	}
	if err := s.Install(withDerived(keys, 2)); err == nil {
		t.Error("Install took another root for version 2")
	}
	if err := s.Install(keys); err == nil {
		t.Error("Install dropped version 2")
	}
	s.Wipe()
	if _, err := s.BlindIndexAt(2, "customers", "email", val); err == nil {
		t.Error("a hash under version 2 after Wipe")
	}
}

// TestLedgerHashUnderDerivedVersions: version 1 is the ledger hash as it
// always was (entries made before the rotation still match); version 2
// gives another hash once installed, and is refused before.
func TestLedgerHashUnderDerivedVersions(t *testing.T) {
	keys := testKeys()
	s, err := New(keys)
	if err != nil {
		t.Fatal(err)
	}
	h1, err := s.LedgerHash(1, "cus_1")
	if err != nil || !bytes.Equal(h1, s.derivedKey("coffer/erasure-ledger/v1").mac(func(h hash.Hash) { h.Write([]byte("cus_1")) })) || len(h1) != 32 {
		t.Fatalf("version 1: %x %v", h1, err)
	}
	if h, err := s.LedgerHash(2, "cus_1"); err == nil {
		t.Fatalf("a ledger hash under a version not held: %x", h)
	}
	if err := s.Install(withDerived(keys, 2)); err != nil {
		t.Fatal(err)
	}
	h2, err := s.LedgerHash(2, "cus_1")
	if err != nil || bytes.Equal(h1, h2) || len(h2) != 32 {
		t.Fatalf("version 2: %x (v1 %x) %v", h2, h1, err)
	}
	if again, _ := s.LedgerHash(1, "cus_1"); !bytes.Equal(again, h1) {
		t.Error("version 1's ledger hash changed with the rotation")
	}
	if other, _ := s.LedgerHash(2, "cus_2"); bytes.Equal(other, h2) {
		t.Error("two subjects share a ledger hash")
	}
}

// TestSecretUnderDerivedVersions: a secret sealed under version 1 opens
// under version 1 only; once version 2 is installed new seals name it,
// and a sealed secret opens under the version it names, not another.
func TestSecretUnderDerivedVersions(t *testing.T) {
	keys := testKeys()
	s, err := New(keys)
	if err != nil {
		t.Fatal(err)
	}
	ct1, v1, err := s.SealSecret("totp", "alice", []byte("JBSWY3DPEHPK3PXP"))
	if err != nil || v1 != 1 {
		t.Fatalf("seal under version 1: %d %v", v1, err)
	}
	if _, err := s.OpenSecret("totp", "alice", ct1, 2); err == nil {
		t.Error("opened under a version not held")
	}
	if err := s.Install(withDerived(keys, 2)); err != nil {
		t.Fatal(err)
	}
	ct2, v2, err := s.SealSecret("totp", "alice", []byte("JBSWY3DPEHPK3PXP"))
	if err != nil || v2 != 2 {
		t.Fatalf("seal after the rotation: version %d %v", v2, err)
	}
	for _, c := range []struct {
		ct   []byte
		ver  uint32
		open bool
	}{{ct1, 1, true}, {ct1, 2, false}, {ct2, 2, true}, {ct2, 1, false}} {
		pt, err := s.OpenSecret("totp", "alice", c.ct, c.ver)
		if c.open != (err == nil) || (c.open && string(pt) != "JBSWY3DPEHPK3PXP") {
			t.Errorf("open a secret under version %d: %q %v, want open %t", c.ver, pt, err, c.open)
		}
	}
	if _, err := s.OpenSecret("totp", "bob", ct2, 2); err == nil {
		t.Error("alice's secret opened as bob's under version 2")
	}
}
