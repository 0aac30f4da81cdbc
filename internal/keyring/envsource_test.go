package keyring

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/vault"
)

var _ vault.KeySource = (*EnvelopeSource)(nil)
var _ vault.Holder = (*Lease)(nil)

// shamirEnvelope writes a 2-of-3 Shamir envelope of a fresh root (no
// key stretching, so fast) and returns its path, the root and the shares.
func shamirEnvelope(t *testing.T) (string, *Root, []*Share) {
	t.Helper()
	r := NewRoot()
	e, shares, err := Split(r, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "root.json")
	if err := WriteEnvelope(path, e, true); err != nil {
		t.Fatal(err)
	}
	return path, r, shares
}

func copyRoot(t *testing.T, r *Root) *Root {
	t.Helper()
	c, err := RootFromBytes(r.b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnvelopeSourceRotates(t *testing.T) {
	path, r, shares := shamirEnvelope(t)
	src, err := NewEnvelopeSource(Source{Provider: ProviderShamir, Envelope: path})
	if err != nil {
		t.Fatal(err)
	}
	// Sealed: nothing derives; the exported marks read without the root.
	if _, err := src.NewVersion(); coffer.ErrorCode(err) != coffer.ESEALED {
		t.Fatalf("NewVersion while sealed: %v", err)
	}
	if ok, err := src.Exported(1); err != nil || ok {
		t.Fatalf("Exported while sealed: %v %v", ok, err)
	}
	k, _, err := src.Open(copyRoot(t, r))
	if err != nil || k.Root.Current != 1 || len(k.Root.KEKs) != 1 {
		t.Fatalf("open: %+v %v", k, err)
	}
	rk, err := src.NewVersion()
	if err != nil || rk.Current != 2 || len(rk.KEKs) != 2 {
		t.Fatalf("NewVersion: %+v %v", rk, err)
	}
	want, _ := DeriveVersions(r, 2, 2)
	if !rk.KEKs[2].Equal(want.Root.KEKs[2]) {
		t.Fatal("KEK version 2 is not HKDF(root, coffer/kek/v2)")
	}
	if rk, err = src.NewDerivedVersion(); err != nil || rk.DerivedCurrent != 2 || !rk.Derived[2].Equal(want.Root.Derived[2]) {
		t.Fatalf("NewDerivedVersion: %+v %v", rk, err)
	}
	// Retire: the current version never; version 1 only once exported
	// (the vault's rule) and then it is gone for good.
	if _, err := src.Retire(2); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("retire the current version: %v", err)
	}
	id, _ := age.GenerateX25519Identity()
	if _, err := src.Export(1, id.Recipient().String()); err != nil {
		t.Fatal(err)
	}
	if ok, err := src.Exported(1); err != nil || !ok {
		t.Fatalf("Exported after export: %v %v", ok, err)
	}
	if rk, err = src.Retire(1); err != nil || len(rk.KEKs) != 1 || rk.KEKs[1].Len() != 0 {
		t.Fatalf("retire 1: %+v %v", rk, err)
	}
	if _, err := src.Retire(1); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("retire 1 twice: %v", err)
	}
	if _, err := src.Export(1, id.Recipient().String()); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("export of a retired version: %v", err)
	}

	// The envelope holds the versions (0600), still opens with the shares,
	// and the next unseal derives what it names: no retired version.
	fi, _ := os.Stat(path)
	e, err := ReadEnvelope(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("envelope after rotation: %v %v", fi.Mode(), err)
	}
	if e.Current != 2 || e.DerivedCurrent != 2 || e.Min != 2 || !slices.Equal(e.Exported, []uint32{1}) {
		t.Fatalf("envelope metadata: %+v", e)
	}
	u, err := NewUnseal(e)
	if err != nil {
		t.Fatal(err)
	}
	u.Add([]byte(shares[0].Text()))
	got, _, err := u.Add([]byte(shares[1].Text()))
	if err != nil {
		t.Fatalf("the rotated envelope does not open: %v", err)
	}
	k, err = u.Derive(got)
	if err != nil || k.Root.Current != 2 || k.Root.DerivedCurrent != 2 || len(k.Root.KEKs) != 1 || k.Root.KEKs[1].Len() != 0 {
		t.Fatalf("keys after the rotation: %+v %v", k.Root, err)
	}
}

// TestEnvelopeVersionFields: an envelope written before rotation (no
// version fields) reads as version 1 of everything; inconsistent fields are
// refused.
func TestEnvelopeVersionFields(t *testing.T) {
	path, r, _ := shamirEnvelope(t)
	old, err := ReadEnvelope(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, f := range []string{"derived_current", "min_decryption_version", "exported"} {
		if strings.Contains(string(b), f) {
			t.Fatalf("a fresh envelope writes %s", f)
		}
	}
	k, err := old.Derive(r)
	if err != nil || k.Root.Current != 1 || k.Root.DerivedCurrent != 1 || len(k.Root.KEKs) != 1 {
		t.Fatalf("an old envelope derives %+v %v", k, err)
	}
	for name, edit := range map[string]func(e *Envelope){
		"min above current":  func(e *Envelope) { e.Current, e.Min = 2, 3 },
		"exported 0":         func(e *Envelope) { e.Exported = []uint32{0} },
		"exported future":    func(e *Envelope) { e.Exported = []uint32{2} },
		"derived too far on": func(e *Envelope) { e.DerivedCurrent = 1<<16 + 1 },
	} {
		e := *old
		edit(&e)
		if err := e.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	e := *old
	e.Current, e.Min, e.DerivedCurrent, e.Exported = 3, 3, 2, []uint32{1, 2}
	if err := e.check(); err != nil {
		t.Fatalf("a consistent rotated envelope: %v", err)
	}
}

// TestSealZeroesEnvelopeRoot: the root an envelope source holds lives as
// long as the vault's keys. POST /v1/sys/seal (SealAs) destroys it; a
// later unseal holds a new one; an older lease destroyed late does not
// seal the newer.
func TestSealZeroesEnvelopeRoot(t *testing.T) {
	ctx := context.Background()
	path, r, _ := shamirEnvelope(t)
	src, _ := NewEnvelopeSource(Source{Provider: ProviderShamir, Envelope: path})
	k, lease, err := src.Open(copyRoot(t, r))
	if err != nil {
		t.Fatal(err)
	}
	held := lease.root.b // the bytes the source derives from
	signer, err := audit.NewSignerKeys(k.Root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "coffer.db"), sqlite.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := vault.New(ctx, vault.Options{Store: st, Keys: k.Root, Schema: examples.Shop, SchemaName: "shop.yaml",
		KeySource: src, Hold: lease, AuditSigner: signer})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if ver, err := v.Admin.RotateKeys(ctx, vault.SystemCall()); err != nil || ver != 2 {
		t.Fatalf("rotate while unsealed: %d %v", ver, err)
	}
	if err := v.WaitRewrap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.SealAs(ctx, vault.SystemCall()); err != nil {
		t.Fatal(err)
	}
	if !lease.root.Destroyed() || len(held) != RootSize || slices.ContainsFunc(held, func(b byte) bool { return b != 0 }) {
		t.Fatal("the root bytes survived the seal")
	}
	if _, err := src.Keys(); coffer.ErrorCode(err) != coffer.ESEALED {
		t.Fatalf("the source derives after the seal: %v", err)
	}

	// Unseal again: the next root is held until the next seal.
	k, lease2, err := src.Open(copyRoot(t, r))
	if err != nil || k.Root.Current != 2 {
		t.Fatalf("reopen: %+v %v", k, err)
	}
	if err := v.UnsealHolding(k.Root, lease2); err != nil {
		t.Fatal(err)
	}
	lease.Destroy() // late and twice: the newer lease stays
	if rk, err := src.Keys(); err != nil || rk.Current != 2 {
		t.Fatalf("an old lease sealed the new one: %v", err)
	}
	v.Seal()
	if !lease2.root.Destroyed() {
		t.Fatal("Seal kept the second root")
	}
}
