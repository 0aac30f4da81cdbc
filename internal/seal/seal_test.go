package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/cofferhq/coffer"
)

func testKeys() *coffer.RootKeys {
	return &coffer.RootKeys{Current: 1, KEKs: map[uint32]coffer.Secret{1: coffer.NewSecret(bytes.Repeat([]byte{0x11}, 32))},
		IndexKey: coffer.NewSecret(bytes.Repeat([]byte{0x22}, 32))}
}

func newSealer(t testing.TB) *Sealer {
	s, err := New(testKeys())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFieldRoundTripAndBinding(t *testing.T) {
	s := newSealer(t)
	dek, _, _, err := s.NewDEK("cus_1")
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte(`"jane@example.com"`)
	ct := dek.Seal(nil, "customers", "rec_1", "email", pt)
	got, err := dek.Open(nil, "customers", "rec_1", "email", ct)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	if bytes.Contains(ct, pt) {
		t.Fatal("ciphertext contains the plaintext")
	}
	for _, moved := range [][3]string{
		{"customers", "rec_2", "email"}, // another record
		{"customers", "rec_1", "name"},  // another field
		{"payments", "rec_1", "email"},  // another collection
		{"customers", "rec_1e", "mail"}, // shifted boundary between record and field
		{"customersrec_1", "", "email"}, // shifted boundary between collection and record
	} {
		if _, err := dek.Open(nil, moved[0], moved[1], moved[2], ct); err == nil {
			t.Errorf("ciphertext opened as %v", moved)
		}
	}
	other, _, _, _ := s.NewDEK("cus_2")
	if _, err := other.Open(nil, "customers", "rec_1", "email", ct); err == nil {
		t.Error("another subject's DEK opened the ciphertext")
	}
	if ct2 := dek.Seal(nil, "customers", "rec_1", "email", pt); bytes.Equal(ct[1:13], ct2[1:13]) {
		t.Error("two seals used the same nonce")
	}
}

func TestEveryBitFlipFails(t *testing.T) {
	s := newSealer(t)
	dek, wrapped, v, _ := s.NewDEK("cus_1")
	ct := dek.Seal(nil, "c", "r", "f", []byte("short value"))
	for i := range len(ct) * 8 {
		bad := bytes.Clone(ct)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := dek.Open(nil, "c", "r", "f", bad); err == nil {
			t.Fatalf("bit %d flipped and the ciphertext still opened", i)
		}
	}
	for n := range len(ct) {
		if _, err := dek.Open(nil, "c", "r", "f", ct[:n]); err == nil {
			t.Fatalf("truncated to %d bytes and still opened", n)
		}
	}
	for i := range len(wrapped) * 8 {
		bad := bytes.Clone(wrapped)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := s.OpenDEK("cus_1", bad, v); err == nil {
			t.Fatalf("wrapped DEK bit %d flipped and still opened", i)
		}
	}
}

func TestWrappedDEKIsBoundToSubjectAndVersion(t *testing.T) {
	s := newSealer(t)
	dek, wrapped, v, err := s.NewDEK("cus_1")
	if err != nil || v != 1 {
		t.Fatal(err, v)
	}
	if _, err := s.OpenDEK("cus_2", wrapped, v); err == nil {
		t.Error("DEK of cus_1 opened for cus_2")
	}
	if _, err := s.OpenDEK("cus_1", wrapped, 2); err == nil {
		t.Error("DEK opened under an unknown version")
	}
	again, err := s.OpenDEK("cus_1", wrapped, v)
	if err != nil {
		t.Fatal(err)
	}
	ct := dek.Seal(nil, "c", "r", "f", []byte("x"))
	if _, err := again.Open(nil, "c", "r", "f", ct); err != nil {
		t.Error("unwrapped DEK differs from the original")
	}
	// Rotation: a new current version rewraps; old wraps still open.
	keys := testKeys()
	keys.KEKs[2] = coffer.NewSecret(bytes.Repeat([]byte{0x33}, 32))
	keys.Current = 2
	s2, err := New(keys)
	if err != nil {
		t.Fatal(err)
	}
	rewrapped, v2, err := s2.Rewrap("cus_1", wrapped, v)
	if err != nil || v2 != 2 {
		t.Fatal(err, v2)
	}
	if _, err := s2.OpenDEK("cus_1", rewrapped, 1); err == nil {
		t.Error("a version-2 wrap opened as version 1")
	}
	d3, err := s2.OpenDEK("cus_1", rewrapped, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d3.Open(nil, "c", "r", "f", ct); err != nil {
		t.Error("rewrapped DEK does not open old ciphertext")
	}
}

func TestBlindIndex(t *testing.T) {
	s := newSealer(t)
	a := s.blindIndex("customers", "email", []byte("jane@example.com"))
	if len(a) != IndexSize || !bytes.Equal(a, s.blindIndex("customers", "email", []byte("jane@example.com"))) {
		t.Fatal("blind index not deterministic or not 16 bytes")
	}
	for _, other := range [][]byte{
		s.blindIndex("customers", "phone", []byte("jane@example.com")),
		s.blindIndex("leads", "email", []byte("jane@example.com")),
		s.blindIndex("customers", "email", []byte("jane@example.org")),
	} {
		if bytes.Equal(a, other) {
			t.Error("blind index collides across fields, collections or values")
		}
	}
	keys := testKeys()
	keys.IndexKey = coffer.NewSecret(bytes.Repeat([]byte{0x44}, 32))
	s2, _ := New(keys)
	if bytes.Equal(a, s2.blindIndex("customers", "email", []byte("jane@example.com"))) {
		t.Error("blind index does not depend on the index key")
	}
}

// TestKeysNeverPrinted formats every type holding key material in every
// way a log line or a response could, and looks for the key bytes.
func TestKeysNeverPrinted(t *testing.T) {
	keys := testKeys()
	s := newSealer(t)
	dek, _, _, _ := s.NewDEK("cus_1")
	var forms []string
	for _, k := range [][]byte{bytes.Repeat([]byte{0x11}, 32), bytes.Repeat([]byte{0x22}, 32)} {
		forms = append(forms, string(k), hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k),
			base64.RawURLEncoding.EncodeToString(k), fmt.Sprint(k), fmt.Sprintf("%x", k))
	}
	var outs []string
	for _, v := range []any{keys, *keys, keys.IndexKey, keys.KEKs, s, dek} {
		outs = append(outs, fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s", v, v, v, v))
		if b, err := json.Marshal(v); err == nil {
			outs = append(outs, string(b))
		}
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("k", "v", v)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("k", "v", v)
		outs = append(outs, text.String(), js.String())
	}
	for _, out := range outs {
		for _, f := range forms {
			if bytes.Contains([]byte(out), []byte(f)) {
				t.Fatalf("key material printed: %q", out)
			}
		}
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	k := testKeys()
	k.Current = 7
	if _, err := New(k); err == nil {
		t.Error("missing current version accepted")
	}
	k = testKeys()
	k.KEKs[1] = coffer.NewSecret([]byte("short"))
	if _, err := New(k); err == nil {
		t.Error("short KEK accepted")
	}
}

func TestDEKCache(t *testing.T) {
	c := NewDEKCache(2)
	s := newSealer(t)
	d1, _, _, _ := s.NewDEK("a")
	d2, _, _, _ := s.NewDEK("b")
	d3, _, _, _ := s.NewDEK("c")
	c.Put("a", d1)
	c.Put("b", d2)
	c.Get("a")
	c.Put("c", d3)
	if c.Get("b") != nil || c.Get("a") != d1 || c.Get("c") != d3 {
		t.Error("LRU order wrong")
	}
	c.Remove("a")
	if c.Get("a") != nil {
		t.Error("removed DEK still cached")
	}
	c.Clear()
	if c.Get("c") != nil {
		t.Error("cleared cache still holds a DEK")
	}
}

// TestDEKCacheErase: a DEK unwrapped by a read that raced the erasure
// cannot be put back after it; the memory of erased subjects is bounded.
func TestDEKCacheErase(t *testing.T) {
	c := NewDEKCache(10)
	s := newSealer(t)
	d, _, _, _ := s.NewDEK("cus_gone")
	c.Put("cus_gone", d)
	c.Erase("cus_gone")
	if c.Get("cus_gone") != nil {
		t.Fatal("erased DEK still cached")
	}
	c.Put("cus_gone", d) // the racing read comes back
	if c.Get("cus_gone") != nil {
		t.Fatal("an erased subject's DEK was cached again")
	}
	c.Remove("cus_other")
	c.Put("cus_other", d)
	if c.Get("cus_other") == nil {
		t.Fatal("Remove alone must not refuse later Puts")
	}
	for i := range maxErased + 10 {
		c.Erase("cus_" + strconv.Itoa(i))
	}
	if len(c.erased) != maxErased || len(c.erasedRing) != maxErased {
		t.Errorf("%d erased subjects remembered, bound %d", len(c.erased), maxErased)
	}
}

func FuzzOpen(f *testing.F) {
	s := newSealer(f)
	dek, _, _, _ := s.NewDEK("cus_1")
	valid := dek.Seal(nil, "c", "r", "f", []byte("value"))
	f.Add(valid)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, ct []byte) {
		// Only the one ciphertext Seal made may open; anything else fails
		// without panicking.
		if _, err := dek.Open(nil, "c", "r", "f", ct); err == nil && !bytes.Equal(ct, valid) {
			t.Fatal("forged bytes authenticated")
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	s := newSealer(b)
	dek, _, _, _ := s.NewDEK("cus_1")
	pt := []byte(`"jane.doe@example.com"`)
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = dek.Seal(buf[:0], "customers", "rec_06h07ybt3rwa8abhny6h753pqg", "email", pt)
	}
}

func BenchmarkOpen(b *testing.B) {
	s := newSealer(b)
	dek, _, _, _ := s.NewDEK("cus_1")
	ct := dek.Seal(nil, "customers", "rec_06h07ybt3rwa8abhny6h753pqg", "email", []byte(`"jane.doe@example.com"`))
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = dek.Open(buf[:0], "customers", "rec_06h07ybt3rwa8abhny6h753pqg", "email", ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	s := newSealer(b)
	v := []byte("jane.doe@example.com")
	b.ReportAllocs()
	for b.Loop() {
		s.blindIndex("customers", "email", v)
	}
}

func BenchmarkNewDEK(b *testing.B) {
	s := newSealer(b)
	for b.Loop() {
		s.NewDEK("cus_1")
	}
}

func BenchmarkOpenDEK(b *testing.B) {
	s := newSealer(b)
	_, w, v, _ := s.NewDEK("cus_1")
	for b.Loop() {
		if _, err := s.OpenDEK("cus_1", w, v); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSealSecretBinding(t *testing.T) {
	s := newSealer(t)
	ct, ver, err := s.SealSecret("totp", "alice", []byte("JBSWY3DPEHPK3PXP"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("sealed secret holds the plaintext")
	}
	if pt, err := s.OpenSecret("totp", "alice", ct, ver); err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("OpenSecret: %q %v", pt, err)
	}
	if _, err := s.OpenSecret("totp", "bob", ct, ver); err == nil {
		t.Error("alice's secret opened as bob's")
	}
	if _, err := s.OpenSecret("other", "alice", ct, ver); err == nil {
		t.Error("secret opened as another kind")
	}
}

// TestWipeZeroesDerivedIndexKeys: the blind-index keys derived so far are
// zeroed with the index root key.
func TestWipeZeroesDerivedIndexKeys(t *testing.T) {
	s := newSealer(t)
	s.blindIndex("customers", "email", []byte("a@example.com"))
	v, ok := s.idxKeys.Load("1|customers|email")
	if !ok {
		t.Fatal("no derived key cached")
	}
	key := v.(*indexKey).key
	idx := s.index
	s.Wipe()
	if !bytes.Equal(key, make([]byte, keySize)) || !bytes.Equal(idx, make([]byte, keySize)) {
		t.Error("a derived index key or the index root key survived Wipe")
	}
}
