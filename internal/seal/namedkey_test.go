package seal

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestNamedKeyVersions: version 1 of an FPE or deterministic-token key is
// exactly the key derived before keys were versioned (so old ciphertexts
// and tokens keep working); every other version, name and root differs.
func TestNamedKeyVersions(t *testing.T) {
	keys := testKeys()
	keys.DerivedCurrent, keys.Derived = 2, map[uint32]coffer.Secret{2: coffer.NewSecret(bytes.Repeat([]byte{0x33}, 32))}
	s, err := New(keys)
	if err != nil {
		t.Fatal(err)
	}
	root1 := bytes.Repeat([]byte{0x22}, 32)
	legacy := func(label string) []byte {
		k, err := hkdf.Key(sha256.New, root1, nil, label, 32)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	must := func(k []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if !bytes.Equal(must(s.FPEKey("cards", 1, 1)), legacy("coffer/fpe/v1|cards")) {
		t.Error("FPE version 1 is not the key of before")
	}
	if !bytes.Equal(must(s.DeterministicTokenKey("cards", 1, 1)), legacy("coffer/token-det/v1|cards")) {
		t.Error("deterministic-token version 1 is not the key of before")
	}
	seen := map[string]string{}
	for _, c := range []struct {
		what string
		k    []byte
	}{
		{"fpe cards v1", must(s.FPEKey("cards", 1, 1))},
		{"fpe cards v2 root 1", must(s.FPEKey("cards", 2, 1))},
		{"fpe cards v2 root 2", must(s.FPEKey("cards", 2, 2))},
		{"fpe cards v3 root 2", must(s.FPEKey("cards", 3, 2))},
		{"fpe iban v2 root 2", must(s.FPEKey("iban", 2, 2))},
		{"det cards v1", must(s.DeterministicTokenKey("cards", 1, 1))},
		{"det cards v2 root 2", must(s.DeterministicTokenKey("cards", 2, 2))},
	} {
		if other, ok := seen[string(c.k)]; ok {
			t.Errorf("%s and %s share a key", c.what, other)
		}
		seen[string(c.k)] = c.what
	}
	for _, bad := range [][2]uint32{{0, 1}, {2, 0}, {1, 2}, {2, 3}} {
		if _, err := s.FPEKey("cards", bad[0], bad[1]); err == nil {
			t.Errorf("version %d from root %d: no error", bad[0], bad[1])
		}
	}
}
