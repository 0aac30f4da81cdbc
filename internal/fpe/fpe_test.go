package fpe

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var testKey = bytes.Repeat([]byte{0x2b}, 16)

func TestNewErrors(t *testing.T) {
	for _, n := range []int{0, 15, 17, 31, 33, 64} {
		if _, err := NewFF1(make([]byte, n), 10); !errors.Is(err, ErrKey) {
			t.Errorf("NewFF1 with a %d-byte key: %v, want ErrKey", n, err)
		}
		if _, err := NewFF31(make([]byte, n), 10); !errors.Is(err, ErrKey) {
			t.Errorf("NewFF31 with a %d-byte key: %v, want ErrKey", n, err)
		}
	}
	for _, r := range []int{-1, 0, 1, 65537, 1 << 20} {
		if _, err := NewFF1(testKey, r); !errors.Is(err, ErrRadix) {
			t.Errorf("NewFF1 radix %d: %v, want ErrRadix", r, err)
		}
		if _, err := NewFF31(testKey, r); !errors.Is(err, ErrRadix) {
			t.Errorf("NewFF31 radix %d: %v, want ErrRadix", r, err)
		}
	}
}

func TestLengthLimits(t *testing.T) {
	for _, tc := range []struct {
		radix, minLen, ff31MaxLen int
	}{
		// minLen: smallest n with radix^n >= 10^6. ff31MaxLen: 2*floor(96/log2(radix)).
		{2, 20, 192},
		{10, 6, 56},
		{16, 5, 48},
		{26, 5, 40},
		{36, 4, 36},
		{62, 4, 32},
		{64, 4, 32},
		{1000, 2, 18},
		{65536, 2, 12},
	} {
		f1, err := NewFF1(testKey, tc.radix)
		if err != nil {
			t.Fatal(err)
		}
		f3, err := NewFF31(testKey, tc.radix)
		if err != nil {
			t.Fatal(err)
		}
		if f1.MinLen() != tc.minLen || f3.MinLen() != tc.minLen {
			t.Errorf("radix %d: MinLen %d, %d; want %d", tc.radix, f1.MinLen(), f3.MinLen(), tc.minLen)
		}
		if f1.MaxLen() != FF1MaxLen || f3.MaxLen() != tc.ff31MaxLen {
			t.Errorf("radix %d: MaxLen %d, %d; want %d, %d", tc.radix, f1.MaxLen(), f3.MaxLen(), FF1MaxLen, tc.ff31MaxLen)
		}
		tweak := make([]byte, FF31TweakLen)
		for name, c := range map[string]Cipher{"FF1": f1, "FF3-1": f3} {
			if c.Radix() != tc.radix {
				t.Errorf("%s: Radix() = %d", name, c.Radix())
			}
			if _, err := c.Encrypt(tweak, make([]uint16, tc.minLen-1)); !errors.Is(err, ErrDomainTooSmall) {
				t.Errorf("%s radix %d: %d numerals: %v, want ErrDomainTooSmall", name, tc.radix, tc.minLen-1, err)
			}
			if _, err := c.Decrypt(tweak, make([]uint16, c.MaxLen()+1)); !errors.Is(err, ErrTooLong) {
				t.Errorf("%s radix %d: %d numerals: %v, want ErrTooLong", name, tc.radix, c.MaxLen()+1, err)
			}
			for _, n := range []int{tc.minLen, c.MaxLen()} {
				x := make([]uint16, n)
				x[0] = uint16(tc.radix - 1)
				y, err := c.Encrypt(tweak, x)
				if err != nil {
					t.Fatalf("%s radix %d length %d: %v", name, tc.radix, n, err)
				}
				z, err := c.Decrypt(tweak, y)
				if err != nil || !slices.Equal(z, x) {
					t.Fatalf("%s radix %d length %d: round trip failed: %v", name, tc.radix, n, err)
				}
			}
		}
	}
}

func TestInputErrors(t *testing.T) {
	f1, _ := NewFF1(testKey, 10)
	f3, _ := NewFF31(testKey, 10)
	x := []uint16{4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	bad := slices.Clone(x)
	bad[7] = 10

	if _, err := f1.Encrypt(make([]byte, FF1MaxTweakLen+1), x); !errors.Is(err, ErrTweak) {
		t.Errorf("FF1 long tweak: %v", err)
	}
	if _, err := f1.Encrypt(make([]byte, FF1MaxTweakLen), x); err != nil {
		t.Errorf("FF1 tweak of the maximum length: %v", err)
	}
	for _, n := range []int{0, 6, 8, 56} {
		if _, err := f3.Encrypt(make([]byte, n), x); !errors.Is(err, ErrTweak) {
			t.Errorf("FF3-1 %d-byte tweak: %v", n, err)
		}
	}
	if _, err := f1.Encrypt(nil, bad); !errors.Is(err, ErrNumeral) {
		t.Errorf("FF1 numeral 10 in radix 10: %v", err)
	}
	if _, err := f3.Decrypt(make([]byte, 7), bad); !errors.Is(err, ErrNumeral) {
		t.Errorf("FF3-1 numeral 10 in radix 10: %v", err)
	}

	// The string API: alphabet and character checks.
	const pan = "4111111111111111"
	for _, tc := range []struct {
		s, alphabet string
		want        error
	}{
		{pan, "012345678", ErrAlphabet},          // 9 characters for radix 10
		{pan, "0123456789a", ErrAlphabet},        // 11
		{pan, "0123456788", ErrAlphabet},         // repeated character
		{pan, "012345678\xff", ErrAlphabet},      // not UTF-8
		{pan, "012345678é", nil},                 // non-ASCII is fine
		{"41111111x1111111", Digits, ErrNumeral}, // not in the alphabet
		{"4111111111111é11", Digits, ErrNumeral},
		{"4111", Digits, ErrDomainTooSmall},
		{strings.Repeat("1", FF1MaxLen+1), Digits, ErrTooLong},
		{strings.Repeat("1", 10*FF1MaxLen), Digits, ErrTooLong},
	} {
		s := tc.s
		if strings.HasSuffix(tc.alphabet, "é") {
			s = strings.ReplaceAll(s, "9", "é")
		}
		_, err := f1.EncryptString(nil, s, tc.alphabet)
		if !errors.Is(err, tc.want) {
			t.Errorf("EncryptString(%q, %q): %v, want %v", s, tc.alphabet, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "4111") || strings.Contains(err.Error(), tc.alphabet)) {
			t.Errorf("error %q repeats the input", err)
		}
	}
}

// TestErrorsCarryNoInput holds the promise that an error can be logged: every
// error is one of the sentinels, whose text names a rule and no value.
func TestErrorsCarryNoInput(t *testing.T) {
	sentinels := []error{ErrKey, ErrRadix, ErrDomainTooSmall, ErrTooLong, ErrTweak, ErrNumeral, ErrAlphabet}
	f1, _ := NewFF1(testKey, 10)
	f3, _ := NewFF31(testKey, 10)
	const secret = "5555444433331111"
	inputs := []string{secret + "x", secret[:4], strings.Repeat(secret, 20), secret + "\xff"}
	for _, c := range []Cipher{f1, f3} {
		for _, in := range inputs {
			for _, tweak := range [][]byte{[]byte(secret), make([]byte, 7)} {
				_, err := c.EncryptString(tweak, in, Digits)
				if err == nil {
					t.Fatalf("no error for a bad input")
				}
				if !slices.Contains(sentinels, err) {
					t.Errorf("error %v is not a sentinel", err)
				}
				if strings.Contains(err.Error(), "5555") || strings.Contains(err.Error(), "3333") {
					t.Errorf("error %q repeats the input", err)
				}
			}
		}
	}
}

// TestFastPathMatchesBig runs the uint64 rounds and the math/big rounds on
// the same inputs: the vectors only reach the big path with long inputs.
func TestFastPathMatchesBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, radix := range []int{2, 3, 10, 26, 36, 62, 255, 256, 1000, 65535, 65536} {
		key := make([]byte, 16<<rng.IntN(2))
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		f1, err := NewFF1(key, radix)
		if err != nil {
			t.Fatal(err)
		}
		f3, err := NewFF31(key, radix)
		if err != nil {
			t.Fatal(err)
		}
		for range 40 {
			// FF1
			n := f1.minLen + rng.IntN(2*len(f1.pow.small)-f1.minLen-1)
			x := randomNumerals(rng, radix, n)
			tweak := make([]byte, rng.IntN(40))
			for i := range tweak {
				tweak[i] = byte(rng.Uint32())
			}
			st := f1.newState(tweak, n)
			if !f1.pow.fits64(st.v) {
				t.Fatalf("FF1 radix %d length %d: not on the fast path", radix, n)
			}
			for _, dec := range []bool{false, true} {
				fast, big := make([]uint16, n), make([]uint16, n)
				st1, st2 := f1.newState(tweak, n), f1.newState(tweak, n)
				f1.crypt64(&st1, fast, x, dec)
				f1.cryptBig(&st2, big, x, dec)
				if !slices.Equal(fast, big) {
					t.Fatalf("FF1 radix %d length %d decrypt=%v: fast %v, big %v", radix, n, dec, fast, big)
				}
			}
			// FF3-1
			n = f3.minLen + rng.IntN(min(f3.maxLen, 2*len(f3.pow.small)-2)-f3.minLen+1)
			x = randomNumerals(rng, radix, n)
			var tl, tr [4]byte
			for i := range 4 {
				tl[i], tr[i] = byte(rng.Uint32()), byte(rng.Uint32())
			}
			u := (n + 1) / 2
			if !f3.pow.fits64(u) {
				t.Fatalf("FF3-1 radix %d length %d: not on the fast path", radix, n)
			}
			for _, dec := range []bool{false, true} {
				fast, big := make([]uint16, n), make([]uint16, n)
				f3.crypt64(fast, x, u, &tl, &tr, dec)
				f3.cryptBig(big, x, u, &tl, &tr, dec)
				if !slices.Equal(fast, big) {
					t.Fatalf("FF3-1 radix %d length %d decrypt=%v: fast %v, big %v", radix, n, dec, fast, big)
				}
			}
		}
	}
}

func randomNumerals(rng *rand.Rand, radix, n int) []uint16 {
	x := make([]uint16, n)
	for i := range x {
		x[i] = uint16(rng.IntN(radix))
	}
	return x
}

// TestTweakChangesCiphertext counts, at the smallest domain (10^6), how
// often two tweaks give the same ciphertext for the same input. For a
// good cipher it is about one in a million per input; a tweak that is
// ignored, or only partly used, makes it every time.
func TestTweakChangesCiphertext(t *testing.T) {
	f1, _ := NewFF1(testKey, 10)
	f3, _ := NewFF31(testKey, 10)
	rng := rand.New(rand.NewPCG(3, 4))
	for name, c := range map[string]Cipher{"FF1": f1, "FF3-1": f3} {
		same := 0
		for i := range 2000 {
			x := randomNumerals(rng, 10, 6)
			t1 := make([]byte, 7)
			t2 := make([]byte, 7)
			// Tweaks differing in a single bit, at every bit position in turn,
			// so each part of the tweak has to count.
			t2[(i/8)%7] ^= 1 << (i % 8)
			y1, err1 := c.Encrypt(t1, x)
			y2, err2 := c.Encrypt(t2, x)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if slices.Equal(y1, y2) {
				same++
			}
		}
		if same > 2 {
			t.Errorf("%s: %d of 2000 tweak pairs gave the same ciphertext", name, same)
		}
	}
}
