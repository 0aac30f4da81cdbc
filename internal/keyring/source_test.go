package keyring

import (
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/audit"
)

func TestStart(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	CreateRootFile(keys)
	k, u, err := Start(Source{File: keys})
	if err != nil || k == nil || u != nil {
		t.Fatalf("file: %v", err)
	}
	pub, err := k.AuditPublicKey()
	signer, _ := audit.NewSigner(k.Root.IndexKey)
	if err != nil || len(pub) != ed25519.PublicKeySize || pub.Equal(signer.PublicKey()) {
		t.Fatal("the audit key of a v2 root is not its own derivation")
	}

	r := NewRoot()
	env := filepath.Join(dir, "root.json")
	e, shares, _ := Split(r, 2, 3)
	e.Current = 3
	WriteEnvelope(env, e, true)
	k, u, err = Start(Source{Provider: ProviderShamir, Envelope: env})
	if err != nil || k != nil || u == nil || u.Current() != 3 {
		t.Fatalf("shamir: %v", err)
	}
	u.Add([]byte(shares[0].Text()))
	got, _, err := u.Add([]byte(shares[2].Text()))
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := Derive(got, u.Current())
	want, _ := Derive(r, 3)
	if !dk.Root.KEKs[3].Equal(want.Root.KEKs[3]) {
		t.Fatal("unsealed keys differ")
	}

	for _, s := range []Source{
		{Provider: ProviderPassphrase, Envelope: env}, // envelope of another provider
		{Provider: "vault", Envelope: env},
		{Provider: ProviderShamir, Envelope: filepath.Join(dir, "missing.json")},
	} {
		if _, _, err := Start(s); err == nil {
			t.Fatalf("%+v: started", s)
		}
	}
	if _, _, err := Start(Source{Provider: ProviderPKCS11, Envelope: env}); err == nil || !strings.Contains(err.Error(), "provider") {
		t.Fatalf("pkcs11 with a shamir envelope: %v", err)
	}
}
