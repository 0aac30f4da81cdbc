package token

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestRandom(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		s := Random()
		if !strings.HasPrefix(s, Prefix) || len(s) != len(Prefix)+RandomChars {
			t.Fatalf("Random() = %q: want %q and %d characters", s, Prefix, RandomChars)
		}
		if !IsRandom(s) {
			t.Fatalf("IsRandom(%q) = false", s)
		}
		if seen[s] {
			t.Fatalf("Random() repeated %q", s)
		}
		seen[s] = true
		for _, r := range s[len(Prefix):] {
			counts[r]++
		}
	}
	// 44,000 characters, about 710 of each of the 62: all must show up, and
	// none far from its share.
	if len(counts) != 62 {
		t.Errorf("%d distinct characters, want 62", len(counts))
	}
	for r, n := range counts {
		if n < 500 || n > 950 {
			t.Errorf("character %q drawn %d times, expected about 710", r, n)
		}
	}
}

func TestRandomTokenRejection(t *testing.T) {
	// Every byte value, twice: the ones below 248 (= 4*62) map to
	// base62[b%62], the ones above are skipped.
	var stream []byte
	for range 2 {
		for b := 255; b >= 0; b-- {
			stream = append(stream, byte(b))
		}
	}
	s, err := randomToken(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, b := range stream {
		if b < 248 {
			want = append(want, base62[int(b)%62])
		}
	}
	if got := s[len(Prefix):]; got != string(want[:RandomChars]) {
		t.Errorf("randomToken = %q, want %q", got, want[:RandomChars])
	}
	if _, err := randomToken(bytes.NewReader(stream[:20])); err == nil {
		t.Error("a short random source gave no error")
	}
}

func TestIsRandom(t *testing.T) {
	for _, s := range []string{"", "tok_", "tok_abc", "TOK_0123456789abcdefghijkl", "tok_0123456789abcdefghij-l",
		"tok_0123456789abcdefghijklm", "xok_0123456789abcdefghijkl"} {
		if IsRandom(s) {
			t.Errorf("IsRandom(%q) = true", s)
		}
	}
	if !IsRandom("tok_0123456789abcdefghijkl") {
		t.Error("IsRandom refused a well-formed token")
	}
}

func TestDeterministicRandom(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, KeyLen)
	k2 := bytes.Repeat([]byte{2}, KeyLen)
	a, err := DeterministicRandom(k1, "ns", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !IsRandom(a) {
		t.Errorf("%q is not a random-format token", a)
	}
	again, _ := DeterministicRandom(k1, "ns", "alice@example.com")
	if again != a {
		t.Errorf("same inputs: %q then %q", a, again)
	}
	others := map[string][3]string{}
	for _, in := range [][3]string{
		{"k2", "ns", "alice@example.com"},
		{"k1", "ns2", "alice@example.com"},
		{"k1", "ns", "alice@example.co"},
		{"k1", "nsalice@example.com", ""}, // the length prefixes keep these apart
		{"k1", "", "nsalice@example.com"},
	} {
		key := k1
		if in[0] == "k2" {
			key = k2
		}
		s, err := DeterministicRandom(key, in[1], in[2])
		if err != nil {
			t.Fatal(err)
		}
		if s == a {
			t.Errorf("%v gives the same token as the original", in)
		}
		if prev, dup := others[s]; dup {
			t.Errorf("%v and %v give the same token", prev, in)
		}
		others[s] = in
	}
	if _, err := DeterministicRandom(k1[:31], "ns", "v"); !errors.Is(err, ErrKey) {
		t.Errorf("31-byte key: %v, want ErrKey", err)
	}
}

func TestLuhn(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"79927398713", true}, // the usual worked example of the algorithm
		{"79927398710", false},
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"378282246310005", true},
		{"6011111111111117", true},
		{"5555555555554444", true},
		{"5555555555554443", false},
		{"0", true},
		{"", false},
		{"4111 1111 1111 1111", false}, // not digits only
		{"4111-1111-1111-1111", false},
		{"41111111111111１1", false},
	} {
		if got := Luhn(tc.in); got != tc.want {
			t.Errorf("Luhn(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestNormalizeCard(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"4111111111111111", "4111111111111111", nil},
		{"4111 1111 1111 1111", "4111111111111111", nil},
		{"4111-1111-1111-1111", "4111111111111111", nil},
		{"3782 822463 10005", "378282246310005", nil},
		{"4111.1111.1111.1111", "", ErrCardFormat},
		{"4111111111111111\n", "", ErrCardFormat},
		{"４１１１１１１１１１１１１１１１", "", ErrCardFormat}, // full-width digits are not ASCII digits
		{"4111 1111 1111 111１", "", ErrCardFormat},
		{"41111111117", "", ErrCardLength},              // 11 digits
		{"41111111111111111111", "", ErrCardLength},     // 20 digits
		{strings.Repeat("4", 10000), "", ErrCardLength}, // refused before any work
		{"", "", ErrCardLength},
		{"4111111111111112", "", ErrCardLuhn},
	} {
		got, err := NormalizeCard(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("NormalizeCard(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
		if _, err := NormalizeCard(tc.in); !errors.Is(err, tc.err) {
			t.Errorf("NormalizeCard(%q) = %v, want %v", tc.in, err, tc.err)
		}
	}
}

// TestErrorsNeverHoldThePAN drives every error path with card-like inputs and
// checks that no run of 4 of the input's digits shows up in the message.
func TestErrorsNeverHoldThePAN(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeyLen)
	inputs := []string{
		"4929 3813 3266 4925x", "49293813326649", "4929381332664926", "492938133266492512345678",
		"4929-3813-3266-4925", "492938133266",
	}
	for _, pan := range inputs {
		for _, keep := range []int{0, 6, 7, 8} {
			_, nerr := NormalizeCard(pan)
			errs := []error{nerr}
			_, err := CardToken(pan, keep, nil)
			errs = append(errs, err)
			_, err = DeterministicCardToken(pan, keep, key, "ns")
			errs = append(errs, err)
			_, err = DeterministicCardToken(pan, keep, key[:5], "ns")
			errs = append(errs, err)
			_, err = NormalizeCard(pan)
			errs = append(errs, err)
			digits := strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, pan)
			for _, err := range errs {
				if err == nil {
					continue
				}
				for i := 0; i+4 <= len(digits); i++ {
					if strings.Contains(err.Error(), digits[i:i+4]) {
						t.Errorf("error %q holds %q of the card number", err, digits[i:i+4])
					}
				}
			}
		}
	}
}

func TestCardToken(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{1})
	for _, tc := range []struct {
		pan  string
		keep int
		err  error
	}{
		{"4111111111111111", 0, nil},
		{"4111111111111111", 6, nil},
		{"4111111111111111", 8, nil}, // 4 random digits: the minimum
		{"4111 1111 1111 1111", 6, nil},
		{"378282246310005", 6, nil},
		{"4222222222222", 0, nil}, // 13 digits
		{"4222222222222", 6, ErrTooShort},
		{"36227206271667", 6, nil}, // 14 digits, 4 random
		{"36227206271667", 8, ErrTooShort},
		{"4111111111111111", 4, ErrKeepBIN},
		{"4111111111111111", -6, ErrKeepBIN},
		{"4111111111111112", 0, ErrCardLuhn},
		{"41111111117", 0, ErrCardLength},
		{"4111x111111111111", 0, ErrCardFormat},
	} {
		tok, err := CardToken(tc.pan, tc.keep, rng)
		if !errors.Is(err, tc.err) {
			t.Errorf("CardToken(%q, %d) error %v, want %v", tc.pan, tc.keep, err, tc.err)
			continue
		}
		if err != nil {
			if tok != "" {
				t.Errorf("CardToken(%q, %d) returned %q with an error", tc.pan, tc.keep, tok)
			}
			continue
		}
		pan, _ := NormalizeCard(tc.pan)
		checkCardToken(t, pan, tc.keep, tok)
	}
}

// fataler is what checkCardToken needs of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkCardToken holds the promises of a card token.
func checkCardToken(t fataler, pan string, keep int, tok string) {
	t.Helper()
	if len(tok) != len(pan) {
		t.Fatalf("token %q has %d digits, card %d", tok, len(tok), len(pan))
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			t.Fatalf("token %q is not all digits", tok)
		}
	}
	if tok[len(tok)-4:] != pan[len(pan)-4:] {
		t.Fatalf("token %q does not keep the last 4 of %q", tok, pan)
	}
	if tok[:keep] != pan[:keep] {
		t.Fatalf("token %q does not keep the first %d of %q", tok, keep, pan)
	}
	if Luhn(tok) {
		t.Fatalf("token %q passes the Luhn check", tok)
	}
	if tok == pan {
		t.Fatalf("token equals the card number")
	}
}

// TestCardTokenLuhnRepair feeds a source that reproduces the card's own
// middle digits, so the drawn token passes the Luhn check and must be
// repaired by changing only the last random digit.
func TestCardTokenLuhnRepair(t *testing.T) {
	pan := "4111111111111111"
	for pick := byte(0); pick < 9; pick++ {
		src := []byte{1, 1, 1, 1, 1, 1, pick}
		tok, err := CardToken(pan, 6, bytes.NewReader(append(src, make([]byte, 64)...)))
		if err != nil {
			t.Fatal(err)
		}
		checkCardToken(t, pan, 6, tok)
		if tok[:11] != pan[:11] || tok[12:] != pan[12:] {
			t.Errorf("pick %d: token %q changed more than digit 12 of %q", pick, tok, pan)
		}
	}
	// The nine picks give the nine other digits.
	seen := map[string]bool{}
	for pick := byte(0); pick < 9; pick++ {
		tok, _ := CardToken(pan, 6, bytes.NewReader(append([]byte{1, 1, 1, 1, 1, 1, pick}, make([]byte, 64)...)))
		seen[tok] = true
	}
	if len(seen) != 9 {
		t.Errorf("9 picks gave %d distinct tokens", len(seen))
	}
}

// TestCardTokenDistribution draws many tokens for one card from a seeded
// source: they are nearly all distinct and each random position uses every
// digit about equally.
func TestCardTokenDistribution(t *testing.T) {
	const n = 20000
	rng := rand.NewChaCha8([32]byte{2})
	pan := "5555555555554444"
	seen := map[string]bool{}
	var counts [16][10]int
	for range n {
		tok, err := CardToken(pan, 6, rng)
		if err != nil {
			t.Fatal(err)
		}
		checkCardToken(t, pan, 6, tok)
		seen[tok] = true
		for i := 6; i < 12; i++ {
			counts[i][tok[i]-'0']++
		}
	}
	// 9*10^5 possible tokens: about 220 collisions expected among 20,000.
	if len(seen) < n-500 {
		t.Errorf("%d distinct tokens of %d", len(seen), n)
	}
	for i := 6; i < 12; i++ {
		for d, c := range counts[i] {
			if c < n*8/100 || c > n*12/100 {
				t.Errorf("position %d digit %d: %d of %d", i, d, c, n)
			}
		}
	}
}

func TestDeterministicCardToken(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, KeyLen)
	k2 := bytes.Repeat([]byte{2}, KeyLen)
	pan := "4111111111111111"
	a, err := DeterministicCardToken(pan, 0, k1, "payments")
	if err != nil {
		t.Fatal(err)
	}
	checkCardToken(t, pan, 0, a)
	for _, same := range []string{pan, "4111 1111 1111 1111", "4111-1111-1111-1111"} {
		if b, _ := DeterministicCardToken(same, 0, k1, "payments"); b != a {
			t.Errorf("%q: %q, want %q", same, b, a)
		}
	}
	// 12 random digits: another key or namespace matching by chance is a
	// one-in-10^12 event.
	if b, _ := DeterministicCardToken(pan, 0, k2, "payments"); b == a {
		t.Error("another key gives the same token")
	}
	if b, _ := DeterministicCardToken(pan, 0, k1, "payments2"); b == a {
		t.Error("another namespace gives the same token")
	}
	if b, _ := DeterministicCardToken("4012888888881881", 0, k1, "payments"); b == a {
		t.Error("another card gives the same token")
	}
	b6, _ := DeterministicCardToken(pan, 6, k1, "payments")
	checkCardToken(t, pan, 6, b6)
	if _, err := DeterministicCardToken(pan, 0, k1[:16], "payments"); !errors.Is(err, ErrKey) {
		t.Errorf("16-byte key: %v, want ErrKey", err)
	}
}

func TestDeterministicReaderStream(t *testing.T) {
	// Reading the stream in pieces gives the same bytes as reading it whole.
	key := bytes.Repeat([]byte{9}, KeyLen)
	r1, _ := newHMACReader(key, "l", "n", "v")
	r2, _ := newHMACReader(key, "l", "n", "v")
	whole := make([]byte, 100)
	r1.Read(whole)
	var pieces []byte
	for _, k := range []int{1, 31, 32, 3, 33} {
		p := make([]byte, k)
		r2.Read(p)
		pieces = append(pieces, p...)
	}
	if !bytes.Equal(whole, pieces) {
		t.Error("the stream depends on how it is read")
	}
	if bytes.Equal(whole[:32], whole[32:64]) {
		t.Error("the stream repeats its first block")
	}
}

func TestRandomSorted(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	a, b := RandomSorted(t0), RandomSorted(t0.Add(time.Millisecond))
	c := RandomSorted(t0.Add(100 * 365 * 24 * time.Hour))
	if !IsRandom(a) || len(a) != len(Prefix)+TimeChars+RandomChars {
		t.Fatalf("RandomSorted = %q", a)
	}
	if !(a < b && b < c) {
		t.Errorf("not sorted by time: %s %s %s", a, b, c)
	}
	if a[len(Prefix)+TimeChars:] == RandomSorted(t0)[len(Prefix)+TimeChars:] {
		t.Error("the random part repeats")
	}
	if IsRandom("tok_" + strings.Repeat("a", 25)) {
		t.Error("a 25-character token passed as random")
	}
}
