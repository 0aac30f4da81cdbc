package seal

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/cofferhq/coffer"
)

// Install gives a live sealer a new KEK set: new DEKs wrap under the new
// current version, DEKs under a version both sets hold still open, a
// removed version no longer opens, and another derived-key root is
// refused.
func TestInstall(t *testing.T) {
	s := newSealer(t)
	keys := testKeys()
	_, w1, v1, err := s.NewDEK("cus_1")
	if err != nil || v1 != keys.Current {
		t.Fatal(err)
	}
	k2 := make([]byte, 32)
	rand.Read(k2)
	next := &coffer.RootKeys{Current: v1 + 1, KEKs: map[uint32]coffer.Secret{v1: keys.KEKs[v1], v1 + 1: coffer.NewSecret(k2)}, IndexKey: keys.IndexKey}
	idx := s.blindIndex("c", "f", []byte("x"))
	if err := s.Install(next); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(idx, s.blindIndex("c", "f", []byte("x"))) {
		t.Error("Install changed the blind index")
	}
	if _, err := s.OpenDEK("cus_1", w1, v1); err != nil {
		t.Fatalf("a DEK under the kept version: %v", err)
	}
	w2, v2, err := s.Rewrap("cus_1", w1, v1)
	if err != nil || v2 != v1+1 {
		t.Fatalf("rewrap = %d, %v", v2, err)
	}
	if _, _, v, _ := s.NewDEK("cus_2"); v != v1+1 {
		t.Errorf("a new DEK wraps under %d", v)
	}
	// Retire the old version.
	if err := s.Install(&coffer.RootKeys{Current: v1 + 1, KEKs: map[uint32]coffer.Secret{v1 + 1: coffer.NewSecret(k2)}, IndexKey: keys.IndexKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenDEK("cus_1", w1, v1); err == nil {
		t.Error("a retired version still opens")
	}
	if _, err := s.OpenDEK("cus_1", w2, v2); err != nil {
		t.Fatal(err)
	}
	other := make([]byte, 32)
	rand.Read(other)
	if err := s.Install(&coffer.RootKeys{Current: v2, KEKs: map[uint32]coffer.Secret{v2: coffer.NewSecret(k2)}, IndexKey: coffer.NewSecret(other)}); err == nil {
		t.Error("Install accepted another derived-key root")
	}
	if err := s.Install(&coffer.RootKeys{Current: v2 + 5, KEKs: map[uint32]coffer.Secret{v2: coffer.NewSecret(k2)}, IndexKey: keys.IndexKey}); err == nil {
		t.Error("Install accepted a current version it lacks")
	}
	if _, err := s.OpenDEK("cus_1", w2, v2); err != nil {
		t.Fatalf("a refused Install changed the sealer: %v", err)
	}
}
