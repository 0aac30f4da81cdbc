package seal

import (
	"bytes"
	"testing"

	"github.com/cofferhq/coffer"
)

func TestCredentialMAC(t *testing.T) {
	s := newSealer(t)
	mac := s.CredentialMAC("api_key", []byte("key_1"), []byte("billing"), []byte("10.0.0.0/8"))
	if !s.VerifyCredentialMAC(mac, "api_key", []byte("key_1"), []byte("billing"), []byte("10.0.0.0/8")) {
		t.Fatal("own MAC does not verify")
	}
	for name, parts := range map[string][][]byte{
		"role raised":   {[]byte("key_1"), []byte("admin"), []byte("10.0.0.0/8")},
		"cidrs dropped": {[]byte("key_1"), []byte("billing"), []byte("")},
		"parts shifted": {[]byte("key_1bil"), []byte("ling"), []byte("10.0.0.0/8")},
		"another row's": {[]byte("key_2"), []byte("billing"), []byte("10.0.0.0/8")},
		"fewer parts":   {[]byte("key_1"), []byte("billing")},
	} {
		if s.VerifyCredentialMAC(mac, "api_key", parts...) {
			t.Errorf("%s: verified", name)
		}
	}
	if s.VerifyCredentialMAC(mac, "operator", []byte("key_1"), []byte("billing"), []byte("10.0.0.0/8")) {
		t.Error("a MAC of one kind verified as another")
	}
	other := newSealerWithIndex(t, bytes.Repeat([]byte{0x55}, 32))
	if other.VerifyCredentialMAC(mac, "api_key", []byte("key_1"), []byte("billing"), []byte("10.0.0.0/8")) {
		t.Error("a MAC verified under another root")
	}
}

func TestAPIKeyVerifierIsKeyed(t *testing.T) {
	s := newSealer(t)
	other := newSealerWithIndex(t, bytes.Repeat([]byte{0x55}, 32))
	v := s.APIKeyVerifier([]byte("secret"))
	if len(v) != 32 || bytes.Equal(v, other.APIKeyVerifier([]byte("secret"))) {
		t.Fatal("the verifier must depend on the root")
	}
	if bytes.Equal(v, s.APIKeyVerifier([]byte("secreT"))) {
		t.Fatal("the verifier must depend on the secret")
	}
}

func newSealerWithIndex(t testing.TB, index []byte) *Sealer {
	k := testKeys()
	k.IndexKey = coffer.NewSecret(index)
	s, err := New(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The keyed hashes every authenticated request and every create compute.
func BenchmarkAPIKeyVerifier(b *testing.B) {
	s := newSealer(b)
	secret := []byte("coffer_0123456789abcdefghijklmnopqrstuvwxyz")
	for b.Loop() {
		s.APIKeyVerifier(secret)
	}
}

func BenchmarkCredentialMAC(b *testing.B) {
	s := newSealer(b)
	for b.Loop() {
		s.CredentialMAC("api_key", []byte("key_0123"), []byte("admin"), []byte("10.0.0.0/8"), []byte("0"))
	}
}

func BenchmarkLedgerHash(b *testing.B) {
	s := newSealer(b)
	for b.Loop() {
		s.LedgerHash(1, "cus_06h0ktrjypcbvgp95e1283p998")
	}
}
