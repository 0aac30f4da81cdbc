package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// rootKeys holds derived-key root versions 1..n.
func rootKeys(n uint32) *coffer.RootKeys {
	rk := &coffer.RootKeys{IndexKey: coffer.NewSecret(bytes.Repeat([]byte{1}, 32)), DerivedCurrent: n, Derived: map[uint32]coffer.Secret{}}
	for v := uint32(2); v <= n; v++ {
		rk.Derived[v] = coffer.NewSecret(bytes.Repeat([]byte{byte(v)}, 32))
	}
	return rk
}

func TestSignerRotation(t *testing.T) {
	s, err := NewSignerKeys(rootKeys(1))
	if err != nil {
		t.Fatal(err)
	}
	v1 := s.PublicKey()
	var published []uint32
	if err := s.Publish(func(v uint32, _ ed25519.PublicKey) error { published = append(published, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Install(rootKeys(2)); err != nil {
		t.Fatal(err)
	}
	if s.Version() != 2 || s.PublicKey().Equal(v1) {
		t.Fatalf("after a rotation: version %d, same key %t; want version 2 and a new key", s.Version(), s.PublicKey().Equal(v1))
	}
	pubs := s.PublicKeys()
	if len(pubs) != 2 || !pubs[1].Equal(v1) || !pubs[2].Equal(s.PublicKey()) {
		t.Fatalf("public keys after a rotation: %d versions", len(pubs))
	}
	if len(published) != 2 || published[0] != 1 || published[1] != 2 {
		t.Fatalf("published versions %v, want [1 2]", published)
	}
	// Version 1 is HKDF over the index key, as before versions existed.
	old, _ := NewSigner(rootKeys(1).IndexKey)
	if !old.PublicKey().Equal(v1) {
		t.Fatal("audit key version 1 changed")
	}
	// A publish that fails adds nothing: no key signs before it is public.
	if err := s.Publish(func(v uint32, _ ed25519.PublicKey) error {
		if v == 3 {
			return errors.New("disk full")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Install(rootKeys(3)); err == nil || s.Version() != 2 {
		t.Fatalf("install with a failing publish: %v, version %d; want an error and version 2", err, s.Version())
	}
}

// Checkpoints of a log signed before and after a rotation verify, each
// under its version's key; a version nobody published, or a return to an
// older key once a newer one signed, does not.
func TestCheckpointsAcrossRotation(t *testing.T) {
	es, _, _ := chain(t, 4)
	s, err := NewSignerKeys(rootKeys(1))
	if err != nil {
		t.Fatal(err)
	}
	cp := func(i int, ctr uint64) Checkpoint {
		c := Checkpoint{Kind: KindPeriodic, Seq: es[i].Seq, Hash: es[i].Hash, Time: time.Unix(1700000000, 0), Counter: ctr}
		s.SignCheckpoint(&c)
		return c
	}
	cps := []Checkpoint{cp(0, 1)}
	if err := s.Install(rootKeys(2)); err != nil {
		t.Fatal(err)
	}
	cps = append(cps, cp(1, 2))
	if cps[0].KeyVersion != 1 || cps[1].KeyVersion != 2 {
		t.Fatalf("key versions %d, %d; want 1, 2", cps[0].KeyVersion, cps[1].KeyVersion)
	}
	if _, err := NewWitnessed(cps, s.PublicKeys()); err != nil {
		t.Fatalf("checkpoints across a rotation: %v", err)
	}
	h := s.Sign(es[3].Seq, es[3].Hash)
	if _, err := Verify(seq(es), &h, s.PublicKeys()); err != nil {
		t.Fatalf("a head signed by the new key: %v", err)
	}
	only1 := map[uint32]ed25519.PublicKey{1: s.PublicKeys()[1]}
	if _, err := NewWitnessed(cps, only1); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("a checkpoint under a version without a public key: %v, want refused", err)
	}
	// Someone holding the old key signs a later checkpoint with it.
	old, _ := NewSigner(rootKeys(1).IndexKey)
	late := Checkpoint{Kind: KindPeriodic, Seq: es[2].Seq, Hash: es[2].Hash, Time: time.Unix(1700000001, 0), Counter: 3}
	old.SignCheckpoint(&late)
	if _, err := NewWitnessed(append(cps, late), s.PublicKeys()); err == nil || !strings.Contains(err.Error(), "after version 2") {
		t.Fatalf("an old-key checkpoint after the rotation: %v, want refused", err)
	}
}

// A manifest signed by a SigningKey names the version that signed it.
func TestSigningKeyFixesTheVersion(t *testing.T) {
	s, err := NewSignerKeys(rootKeys(1))
	if err != nil {
		t.Fatal(err)
	}
	k := s.Current()
	if err := s.Install(rootKeys(2)); err != nil {
		t.Fatal(err)
	}
	if s.PublicKeys()[2] == nil {
		t.Fatal("Install added no version 2 key")
	}
	sig := k.SignManifest([]byte("doc"))
	if k.Version() != 1 || !VerifyManifest(s.PublicKeys()[1], []byte("doc"), sig) || VerifyManifest(s.PublicKeys()[2], []byte("doc"), sig) {
		t.Fatal("a key taken before a rotation signs as version 1")
	}
}
