package fpe

import (
	"math/bits"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// genCipher draws an FF1 or FF3-1 cipher with a random key size and radix;
// radixes are drawn from a small fixed set plus the whole range, so both
// the common ones and odd ones are visited.
func genCipher(t *rapid.T) (Cipher, string) {
	keyLen := rapid.SampledFrom([]int{16, 24, 32}).Draw(t, "keyLen")
	key := rapid.SliceOfN(rapid.Byte(), keyLen, keyLen).Draw(t, "key")
	radix := rapid.OneOf(
		rapid.SampledFrom([]int{2, 10, 16, 26, 36, 62, 64, 256, 65536}),
		rapid.IntRange(2, 65536),
	).Draw(t, "radix")
	if rapid.Bool().Draw(t, "ff1") {
		c, err := NewFF1(key, radix)
		if err != nil {
			t.Fatal(err)
		}
		return c, "FF1"
	}
	c, err := NewFF31(key, radix)
	if err != nil {
		t.Fatal(err)
	}
	return c, "FF3-1"
}

func genTweak(t *rapid.T, kind, label string) []byte {
	if kind == "FF3-1" {
		return rapid.SliceOfN(rapid.Byte(), FF31TweakLen, FF31TweakLen).Draw(t, label)
	}
	return rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, label)
}

func genNumerals(t *rapid.T, c Cipher, minLen int) []uint16 {
	maxLen := min(c.MaxLen(), 120) // longer inputs are covered by TestLengthLimits
	n := rapid.IntRange(max(c.MinLen(), minLen), max(maxLen, minLen)).Draw(t, "n")
	return rapid.SliceOfN(rapid.Uint16Range(0, uint16(c.Radix()-1)), n, n).Draw(t, "x")
}

// Decrypt(Encrypt(x)) == x over radixes, lengths, keys and tweaks, and the
// ciphertext has the same length and stays in the radix.
func TestPropertyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c, kind := genCipher(t)
		tweak := genTweak(t, kind, "tweak")
		x := genNumerals(t, c, 0)
		orig := slices.Clone(x)
		y, err := c.Encrypt(tweak, x)
		if err != nil {
			t.Fatalf("%s Encrypt: %v", kind, err)
		}
		if !slices.Equal(x, orig) {
			t.Fatalf("%s Encrypt modified its input", kind)
		}
		if len(y) != len(x) {
			t.Fatalf("%s: length %d -> %d", kind, len(x), len(y))
		}
		for _, d := range y {
			if int(d) >= c.Radix() {
				t.Fatalf("%s: numeral %d outside radix %d", kind, d, c.Radix())
			}
		}
		z, err := c.Decrypt(tweak, y)
		if err != nil {
			t.Fatalf("%s Decrypt: %v", kind, err)
		}
		if !slices.Equal(z, x) {
			t.Fatalf("%s: Decrypt(Encrypt(x)) = %v, want %v", kind, z, x)
		}
	})
}

// Two different tweaks give two different ciphertexts. Inputs are drawn
// from domains of at least 2^64 values, so a chance equality (about one in
// the domain size per case) would not show up in a lifetime of runs;
// TestTweakChangesCiphertext counts the same at the smallest domain.
func TestPropertyTweakMatters(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c, kind := genCipher(t)
		t1 := genTweak(t, kind, "t1")
		t2 := genTweak(t, kind, "t2")
		if slices.Equal(t1, t2) {
			t.Skip("equal tweaks")
		}
		// radix >= 2^lb, so radix^ceil(64/lb) >= 2^64.
		lb := bits.Len(uint(c.Radix())) - 1
		minLen := (64 + lb - 1) / lb
		if minLen > c.MaxLen() {
			t.Skip("domain too small for the property")
		}
		x := genNumerals(t, c, minLen)
		y1, err1 := c.Encrypt(t1, x)
		y2, err2 := c.Encrypt(t2, x)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if slices.Equal(y1, y2) {
			t.Fatalf("%s: tweaks %x and %x give the same ciphertext", kind, t1, t2)
		}
	})
}

// The string API round-trips in an alphabet of the cipher's radix, ASCII or not.
func TestPropertyStringRoundTrip(t *testing.T) {
	alphabets := []string{Digits, Base36, Base62, LowerLetter, "αβγδεζηθικλμνξοπρστυφχψω"}
	rapid.Check(t, func(t *rapid.T) {
		alpha := rapid.SampledFrom(alphabets).Draw(t, "alphabet")
		runes := []rune(alpha)
		key := rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "key")
		var c Cipher
		var err error
		kind := rapid.SampledFrom([]string{"FF1", "FF3-1"}).Draw(t, "kind")
		if kind == "FF1" {
			c, err = NewFF1(key, len(runes))
		} else {
			c, err = NewFF31(key, len(runes))
		}
		if err != nil {
			t.Fatal(err)
		}
		tweak := genTweak(t, kind, "tweak")
		n := rapid.IntRange(c.MinLen(), min(c.MaxLen(), 80)).Draw(t, "n")
		s := string(rapid.SliceOfN(rapid.SampledFrom(runes), n, n).Draw(t, "s"))
		ct, err := c.EncryptString(tweak, s, alpha)
		if err != nil {
			t.Fatal(err)
		}
		if got := []rune(ct); len(got) != n {
			t.Fatalf("ciphertext %q has %d characters, want %d", ct, len(got), n)
		}
		for _, r := range ct {
			if !slices.Contains(runes, r) {
				t.Fatalf("ciphertext %q leaves the alphabet", ct)
			}
		}
		pt, err := c.DecryptString(tweak, ct, alpha)
		if err != nil || pt != s {
			t.Fatalf("DecryptString = %q, %v; want %q", pt, err, s)
		}
	})
}
