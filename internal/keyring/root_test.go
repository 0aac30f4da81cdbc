package keyring

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
)

func TestRootRedacts(t *testing.T) {
	r, err := RootFromBytes(bytes.Repeat([]byte{0xAB}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	// No time in the line: a timestamp may hold "171" (0xAB in decimal).
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{ReplaceAttr: noTime})).Info("x", "root", r)
	js, _ := json.Marshal(struct{ R *Root }{r})
	for _, out := range []string{
		fmt.Sprint(r), fmt.Sprintf("%v %+v %#v %s %q", r, r, r, r, r), string(js), logged.String(),
	} {
		if strings.Contains(strings.ToLower(out), "abab") || strings.Contains(out, "171") || !strings.Contains(out, redacted) {
			t.Fatalf("printed root: %s", out)
		}
	}
}

func TestRootDestroyZeroes(t *testing.T) {
	r := NewRoot()
	b := r.b // the backing array, as a dump would find it
	if bytes.Equal(b, make([]byte, 32)) {
		t.Fatal("a new root is all zero")
	}
	r.Destroy()
	if !bytes.Equal(b, make([]byte, 32)) || !r.Destroyed() {
		t.Fatal("Destroy left the root's bytes in memory")
	}
	if _, err := Derive(r, 1); coffer.ErrorCode(err) != coffer.ESEALED {
		t.Fatalf("Derive on a destroyed root: %v", err)
	}
	if _, err := RootFromBytes(make([]byte, 31)); err == nil {
		t.Fatal("accepted a 31-byte root")
	}
}

func TestDerive(t *testing.T) {
	r := NewRoot()
	k, err := Derive(r, 3)
	if err != nil {
		t.Fatal(err)
	}
	all := []coffer.Secret{k.Root.IndexKey, k.AuditSeed, k.CredentialMAC, k.Root.KEKs[1], k.Root.KEKs[2], k.Root.KEKs[3]}
	for i := range all {
		if all[i].Len() != 32 || all[i].Equal(coffer.NewSecret(r.b)) {
			t.Fatalf("key %d: length %d or equal to the root", i, all[i].Len())
		}
		for j := range i {
			if all[i].Equal(all[j]) {
				t.Fatalf("keys %d and %d are equal: labels not distinct", j, i)
			}
		}
	}
	again, _ := Derive(r, 4) // a rotation adds a version and changes no other key
	if again.Root.Current != 4 || !again.Root.KEKs[1].Equal(k.Root.KEKs[1]) || !again.Root.IndexKey.Equal(k.Root.IndexKey) || !again.AuditSeed.Equal(k.AuditSeed) {
		t.Fatal("derivation is not deterministic")
	}
	other, _ := Derive(NewRoot(), 1)
	if other.Root.KEKs[1].Equal(k.Root.KEKs[1]) || other.AuditSeed.Equal(k.AuditSeed) {
		t.Fatal("two roots derive the same keys")
	}
	if _, err := Derive(r, 0); err == nil {
		t.Fatal("accepted KEK version 0")
	}
}

// LegacyKeys' audit seed is the one audit.NewSigner derives from the index
// key today: switching serve to it keeps existing audit logs verifiable.
func TestLegacyAuditSeedMatchesSigner(t *testing.T) {
	k, err := Derive(NewRoot(), 1)
	if err != nil {
		t.Fatal(err)
	}
	legacy := LegacyKeys(k.Root)
	signer, err := audit.NewSigner(k.Root.IndexKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := ed25519.NewKeyFromSeed(legacy.AuditSeed.Bytes()).Public().(ed25519.PublicKey)
	if !pub.Equal(signer.PublicKey()) {
		t.Fatal("legacy audit seed differs from audit.NewSigner's")
	}
	if legacy.CredentialMAC.Equal(legacy.AuditSeed) || legacy.CredentialMAC.Equal(k.Root.IndexKey) {
		t.Fatal("legacy credential MAC key not distinct")
	}
}
