//go:build !pkcs11

package keyring

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestStartPKCS11WithoutTagFailsClosed(t *testing.T) {
	e := newEnvelope(ProviderPKCS11)
	e.PKCS11 = &PKCS11Params{KeyLabel: "coffer-root"}
	e.Nonce, e.Wrapped = make([]byte, 12), make([]byte, 48)
	path := filepath.Join(t.TempDir(), "root.json")
	if err := WriteEnvelope(path, e, true); err != nil {
		t.Fatal(err)
	}
	k, u, err := Start(Source{Provider: ProviderPKCS11, Envelope: path})
	if err == nil || k != nil || u != nil || !strings.Contains(err.Error(), "-tags pkcs11") {
		t.Fatalf("started: %v", err)
	}
}
