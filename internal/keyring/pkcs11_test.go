//go:build pkcs11

package keyring

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// softHSM makes SoftHSM2 tokens in a temp dir (one per label; SoftHSM
// reads its configuration once per process, so every token is made before
// the first login) and returns a config per token. Without SoftHSM2 the test skips, unless
// COFFER_REQUIRE_SOFTHSM is set (CI sets it).
func softHSM(t *testing.T, labels ...string) []PKCS11Config {
	module := os.Getenv("COFFER_SOFTHSM_MODULE")
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"} {
		if module == "" {
			if _, err := os.Stat(p); err == nil {
				module = p
			}
		}
	}
	util, err := exec.LookPath("softhsm2-util")
	if module == "" || err != nil {
		if os.Getenv("COFFER_REQUIRE_SOFTHSM") != "" {
			t.Fatal("SoftHSM2 is not installed (apt-get install softhsm2)")
		}
		t.Skip("SoftHSM2 is not installed")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	os.Mkdir(tokens, 0o700)
	conf := filepath.Join(dir, "softhsm2.conf")
	os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
	t.Setenv("SOFTHSM2_CONF", conf)
	var cs []PKCS11Config
	for _, l := range labels {
		out, err := exec.Command(util, "--init-token", "--free", "--label", l, "--pin", "1234", "--so-pin", "5678").CombinedOutput()
		if err != nil {
			t.Fatalf("softhsm2-util: %v: %s", err, out)
		}
		cs = append(cs, PKCS11Config{Module: module, TokenLabel: l, PIN: "1234"})
	}
	return cs
}

func TestPKCS11WrapUnwrap(t *testing.T) {
	cs := softHSM(t, "coffer-test", "coffer-other")
	c := cs[0]
	// A wrong PIN does not log in (checked first: PKCS#11 login is per
	// token and process), and the error does not show it.
	wrong := c
	wrong.PIN = "9999"
	if _, err := OpenPKCS11(wrong); err == nil || strings.Contains(err.Error(), "9999") {
		t.Fatalf("wrong PIN: %v", err)
	}
	p, err := OpenPKCS11(c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.CreateKey(); err != nil {
		t.Fatal(err)
	}
	if err := p.CreateKey(); err == nil {
		t.Fatal("created a second key with the same label")
	}
	r := NewRoot()
	e, err := p.Wrap(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "root.json")
	if err := WriteEnvelope(path, e, true); err != nil {
		t.Fatal(err)
	}
	e, err = ReadEnvelope(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Unwrap(e)
	if err != nil || !got.Equal(r) {
		t.Fatalf("unwrap: %v", err)
	}
	if strings.Contains(string(e.Wrapped), string(r.b)) {
		t.Fatal("the envelope holds the root in the clear")
	}
	// Start opens it without input and derives the keys.
	k, u, err := Start(Source{Provider: ProviderPKCS11, Envelope: path, PKCS11: c})
	want, _ := Derive(r, 1)
	if err != nil || u != nil || !k.Root.KEKs[1].Equal(want.Root.KEKs[1]) {
		t.Fatalf("Start: %v", err)
	}

	// An edited envelope does not open.
	e.Wrapped[0] ^= 1
	if _, err := p.Unwrap(e); err == nil {
		t.Fatal("an edited envelope opened")
	}
	e.Wrapped[0] ^= 1

	// Another HSM key (same label, another token) does not open it.
	p2, err := OpenPKCS11(cs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if err := p2.CreateKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Unwrap(e); err == nil {
		t.Fatal("another HSM key opened the root")
	}

	// Rotation while serving: the source keeps no root (each operation
	// unwraps it from the HSM again), refuses once its lease is destroyed,
	// and the next start derives the versions the envelope names.
	src, err := NewEnvelopeSource(Source{Provider: ProviderPKCS11, Envelope: path, PKCS11: c})
	if err != nil {
		t.Fatal(err)
	}
	k, lease, err := src.OpenHSM()
	if err != nil || lease.root != nil || k.Root.Current != 1 {
		t.Fatalf("OpenHSM: %v (keeps a root: %t)", err, lease != nil && lease.root != nil)
	}
	want, _ = DeriveVersions(r, 2, 2)
	if rk, err := src.NewVersion(); err != nil || rk.Current != 2 || !rk.KEKs[2].Equal(want.Root.KEKs[2]) {
		t.Fatalf("NewVersion through the HSM: %v", err)
	}
	if rk, err := src.NewDerivedVersion(); err != nil || rk.DerivedCurrent != 2 || !rk.Derived[2].Equal(want.Root.Derived[2]) {
		t.Fatalf("NewDerivedVersion through the HSM: %v", err)
	}
	lease.Destroy()
	if _, err := src.NewVersion(); coffer.ErrorCode(err) != coffer.ESEALED {
		t.Fatalf("NewVersion after the lease ended: %v", err)
	}
	if k, _, err = Start(Source{Provider: ProviderPKCS11, Envelope: path, PKCS11: c}); err != nil || k.Root.Current != 2 || k.Root.DerivedCurrent != 2 {
		t.Fatalf("Start after rotation: %+v %v", k, err)
	}

}
