//go:build !pkcs11

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/keyring"
)

// TestRestoreConfigPKCS11WithoutTag: a config whose root is wrapped by an
// HSM key, in a coffer built without PKCS#11 support: restore --config
// says so and writes nothing (no database, no witness).
func TestRestoreConfigPKCS11WithoutTag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "coffer")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A root envelope as a pkcs11 init writes it (the HSM key's wrapping).
	if err := keyring.WriteEnvelope(filepath.Join(dir, "root.json"), &keyring.Envelope{Format: "coffer-root/v1", Provider: keyring.ProviderPKCS11,
		ID: "0123456789abcdef", Current: 1, PKCS11: &keyring.PKCS11Params{KeyLabel: "coffer-root"},
		Nonce: make([]byte, 12), Wrapped: make([]byte, keyring.RootSize+16)}, true); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "coffer.yaml")
	writeFile(t, cfg, "data: .\nkeys: {provider: pkcs11, envelope: root.json, pkcs11: {module: /usr/lib/softhsm/libsofthsm2.so, token_label: coffer}}\n")
	identity, _ := keygen(t, t.TempDir())
	code, out, errs := run(t, nil, "", "backup", "restore", filepath.Join(dir, "vault.backup"), "--identity", identity, "--config", cfg)
	if code != 2 || !strings.Contains(errs, "built without PKCS#11 support (build with -tags pkcs11)") || !strings.Contains(errs, "nothing was written") {
		t.Fatalf("restore --config with pkcs11: exit %d %s %s, want 2 naming the build tag", code, out, errs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("the target holds %v, want the config and the envelope only", ents)
	}
	if _, err := os.Stat(dir + ".witness"); err == nil {
		t.Fatal("a witness was written")
	}
}
