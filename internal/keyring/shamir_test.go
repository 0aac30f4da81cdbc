package keyring

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"pgregory.net/rapid"
)

// Products from FIPS-197 §4.2 (the AES field): a multiply that is a field
// but not this one (another reduction polynomial) fails here.
func TestGFMulVectors(t *testing.T) {
	for _, v := range [][3]byte{{0x57, 0x83, 0xc1}, {0x57, 0x13, 0xfe}, {0x57, 0x02, 0xae}, {0x57, 0x04, 0x47}, {0x57, 0x08, 0x8e}, {0x57, 0x10, 0x07}, {0x01, 0xff, 0xff}, {0x00, 0xff, 0x00}} {
		if got := gfMul(v[0], v[1]); got != v[2] {
			t.Fatalf("%#x·%#x = %#x, want %#x", v[0], v[1], got, v[2])
		}
	}
	for a := 1; a < 256; a++ {
		if gfMul(byte(a), gfInv(byte(a))) != 1 {
			t.Fatalf("%#x has no inverse", a)
		}
	}
}

func TestGFFieldLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := rapid.Byte().Draw(t, "a"), rapid.Byte().Draw(t, "b"), rapid.Byte().Draw(t, "c")
		if gfMul(a, b) != gfMul(b, a) || gfMul(gfMul(a, b), c) != gfMul(a, gfMul(b, c)) || gfMul(a, b^c) != gfMul(a, b)^gfMul(a, c) {
			t.Fatalf("field laws fail for %#x %#x %#x", a, b, c)
		}
	})
}

func shareTexts(ss []*Share) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Text()
	}
	return out
}

// Any k of the n shares open the root, in any order, through their text
// form.
func TestShamirAnyKOpen(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 12).Draw(t, "n")
		k := rapid.IntRange(2, n).Draw(t, "k")
		r := NewRoot()
		e, shares, err := Split(r, k, n)
		if err != nil {
			t.Fatal(err)
		}
		texts := shareTexts(shares)
		pick := rapid.Permutation(texts).Draw(t, "order")[:k]
		var set Shares
		for _, s := range pick {
			p, err := ParseShare(s)
			if err != nil {
				t.Fatal(err)
			}
			set = append(set, p)
		}
		got, err := set.Unwrap(e)
		if err != nil || !got.Equal(r) {
			t.Fatalf("%d of %d shares: %v", k, n, err)
		}
		if _, err := set[:k-1].Unwrap(e); coffer.ErrorCode(err) != coffer.ESEALED {
			t.Fatalf("%d shares opened a %d-of-%d split: %v", k-1, k, n, err)
		}
	})
}

// lagrangeAt evaluates at x the polynomial through the points (test code,
// independent of combine, which only evaluates at 0).
func lagrangeAt(xs, ys []byte, x byte) byte {
	var y byte
	for i, xi := range xs {
		l := byte(1)
		for m, xm := range xs {
			if m != i {
				l = gfMul(l, gfMul(x^xm, gfInv(xi^xm)))
			}
		}
		y ^= gfMul(l, ys[i])
	}
	return y
}

// Any k−1 shares say nothing about the secret: for a fixed set of k−1
// shares and every candidate secret byte s, exactly one value of a k-th
// share completes them to a set that combines to s (so every s is reachable
// and, over the random polynomial, equally likely).
func TestShamirKMinusOneRevealNothing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(3, 10).Draw(t, "n")
		k := rapid.IntRange(2, n-1).Draw(t, "k")
		secret := []byte{rapid.Byte().Draw(t, "secret")}
		ys := split(secret, k, n)
		idx := rapid.Permutation(func() []int {
			s := make([]int, n)
			for i := range s {
				s[i] = i
			}
			return s
		}()).Draw(t, "order")
		var xs, known []byte
		for _, i := range idx[:k-1] {
			xs, known = append(xs, byte(i+1)), append(known, ys[i][0])
		}
		other := byte(idx[k-1] + 1) // an index not among the k−1
		seen := map[byte]bool{}
		for s := range 256 {
			// The k-th share's value at `other` when the polynomial passes
			// through (0, s) and the k−1 known shares.
			y := lagrangeAt(append([]byte{0}, xs...), append([]byte{byte(s)}, known...), other)
			if seen[y] {
				t.Fatalf("two secrets share a completion: k−1 shares narrow the secret")
			}
			seen[y] = true
			pts := [][]byte{}
			for _, v := range known {
				pts = append(pts, []byte{v})
			}
			pts = append(pts, []byte{y})
			if got := combine(append(append([]byte{}, xs...), other), pts); got[0] != byte(s) {
				t.Fatalf("secret %#x unreachable from the k−1 shares (got %#x)", s, got[0])
			}
		}
	})
}

// Exhaustive check of the same for k=2 and k=3 with the polynomial's
// coefficients: for every secret byte the number of polynomials consistent
// with the k−1 shares is the same (256^(k-1) / 256^(k-1) = 1).
func TestShamirExhaustiveUniform(t *testing.T) {
	ys := split([]byte{0x42}, 3, 5)
	x1, y1, x2, y2 := byte(2), ys[1][0], byte(5), ys[4][0]
	var count2, count3 [256]int
	for s := range 256 {
		for a1 := range 256 {
			if byte(s)^gfMul(byte(a1), x1) == y1 { // k=2: one share
				count2[s]++
			}
			for a2 := range 256 { // k=3: two shares
				f := func(x byte) byte { return byte(s) ^ gfMul(byte(a1), x) ^ gfMul(byte(a2), gfMul(x, x)) }
				if f(x1) == y1 && f(x2) == y2 {
					count3[s]++
				}
			}
		}
	}
	for s := range 256 {
		if count2[s] != 1 || count3[s] != 1 {
			t.Fatalf("secret %#x: %d polynomials (k=2), %d (k=3); want 1 each", s, count2[s], count3[s])
		}
	}
}

// A wrong combination never opens: a share altered with a valid checksum,
// or shares of two splits (one relabelled to pass the id check).
func TestShamirWrongCombinationDetected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 8).Draw(t, "n")
		k := rapid.IntRange(2, n).Draw(t, "k")
		r := NewRoot()
		e, shares, _ := Split(r, k, n)
		_, others, _ := Split(NewRoot(), k, n)
		set := append(Shares{}, shares[:k]...)
		victim := rapid.IntRange(0, k-1).Draw(t, "victim")
		if rapid.Bool().Draw(t, "foreign") {
			f := *others[victim]
			f.ID = shares[0].ID // forged to pass the id check
			set[victim] = &f
		} else {
			f := *set[victim]
			f.Y = append([]byte(nil), f.Y...)
			f.Y[rapid.IntRange(0, 31).Draw(t, "byte")] ^= rapid.ByteRange(1, 255).Draw(t, "flip")
			set[victim] = &f
		}
		p, err := ParseShare(set[victim].Text()) // the checksum is recomputed: parses
		if err != nil {
			t.Fatal(err)
		}
		set[victim] = p
		if got, err := set.Unwrap(e); !errors.Is(err, ErrWrongCombination) {
			t.Fatalf("wrong combination: root %v, err %v", got != nil, err)
		}
	})
}

// A typo in a share is caught by its checksum when it is given, before it
// counts towards the threshold.
func TestShareChecksum(t *testing.T) {
	_, shares, _ := Split(NewRoot(), 2, 3)
	text := shares[0].Text()
	if len(text) != len(sharePrefix)+base64.RawURLEncoding.EncodedLen(shareLen) {
		t.Fatalf("share length %d", len(text))
	}
	p, err := ParseShare("  " + text + "\n")
	if err != nil || p.Index != 1 || p.Threshold != 2 || string(p.Y) != string(shares[0].Y) {
		t.Fatalf("parse: %v", err)
	}
	body, _ := base64.RawURLEncoding.DecodeString(text[len(sharePrefix):])
	for i := range len(body) - 4 {
		for _, bit := range []byte{1, 0x80} {
			b := append([]byte(nil), body...)
			b[i] ^= bit
			if _, err := ParseShare(sharePrefix + base64.RawURLEncoding.EncodeToString(b)); err == nil {
				t.Fatalf("a flipped bit in byte %d passed the checksum", i)
			}
		}
	}
	for _, bad := range []string{"", "coffer-share-", "share-" + text[len(sharePrefix):], text[:len(text)-1], text + "AA"} {
		if _, err := ParseShare(bad); err == nil {
			t.Fatalf("parsed %q", bad)
		}
	}
	// A well-formed share with index 0 (f(0) is the secret) is refused.
	b := append([]byte(nil), body[:shareBodyLen]...)
	b[10] = 0
	sum := sha256.Sum256(b)
	if _, err := ParseShare(sharePrefix + base64.RawURLEncoding.EncodeToString(append(b, sum[:4]...))); err == nil {
		t.Fatal("parsed a share with index 0")
	}
}

// Two splits of the same root share nothing: the polynomials' other
// coefficients and the unseal key are random.
func TestSplitIsRandom(t *testing.T) {
	secret := make([]byte, 32)
	a, b := split(secret, 2, 3), split(secret, 2, 3)
	for i := range a {
		if string(a[i]) == string(b[i]) || string(a[i]) == string(secret) {
			t.Fatalf("share %d is the same in two splits of one secret", i+1)
		}
	}
	r := NewRoot()
	_, sa, _ := Split(r, 2, 2)
	_, sb, _ := Split(r, 2, 2)
	if string(sa[0].Y) == string(sb[0].Y) || sa[0].ID == sb[0].ID {
		t.Fatal("two splits of one root share a share or an id")
	}
}

func TestShareRedacts(t *testing.T) {
	_, shares, _ := Split(NewRoot(), 2, 2)
	s := shares[0]
	secret := s.Text()[len(sharePrefix)+4:]
	js, _ := json.Marshal(s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), string(js)} {
		if strings.Contains(out, secret) || !strings.Contains(out, redacted) {
			t.Fatalf("printed share: %s", out)
		}
	}
}

func TestShamirRefuses(t *testing.T) {
	for _, kn := range [][2]int{{1, 3}, {4, 3}, {2, 256}} {
		if _, _, err := Split(NewRoot(), kn[0], kn[1]); err == nil {
			t.Fatalf("split %d-of-%d", kn[0], kn[1])
		}
	}
	e, shares, _ := Split(NewRoot(), 2, 3)
	if _, err := (Shares{shares[0], shares[0]}).Unwrap(e); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("same share twice: %v", err)
	}
	_, other, _ := Split(NewRoot(), 2, 3)
	if _, err := (Shares{shares[0], other[1]}).Unwrap(e); err == nil || !strings.Contains(err.Error(), "another key set") {
		t.Fatalf("share of another split: %v", err)
	}
}

func FuzzParseShare(f *testing.F) {
	_, shares, _ := Split(NewRoot(), 2, 3)
	f.Add(shares[0].Text())
	f.Add("coffer-share-AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseShare(s) // never panics
		if err != nil {
			if strings.Contains(err.Error(), s) && len(s) > 16 {
				t.Fatal("error quotes the input")
			}
			return
		}
		if len(p.Y) != 32 || p.Index == 0 || p.Threshold < 2 {
			t.Fatal("accepted a malformed share")
		}
		if q, err := ParseShare(p.Text()); err != nil || q.Text() != p.Text() {
			t.Fatal("a parsed share does not round-trip")
		}
	})
}
