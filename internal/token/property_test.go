package token

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// genPAN draws a card number that passes the Luhn check: 12 to 19 random
// digits, the last one chosen to complete the check.
func genPAN(t *rapid.T) string {
	n := rapid.IntRange(MinCardDigits, MaxCardDigits).Draw(t, "len")
	body := rapid.StringOfN(rapid.RuneFrom([]rune(digits)), n-1, n-1, -1).Draw(t, "body")
	for c := byte('0'); c <= '9'; c++ {
		if s := body + string(c); Luhn(s) {
			return s
		}
	}
	t.Fatalf("no check digit completes %q", body)
	return ""
}

// format writes a card number the ways people type it.
func format(t *rapid.T, pan string) string {
	switch rapid.IntRange(0, 2).Draw(t, "format") {
	case 1:
		var b strings.Builder
		for i := 0; i < len(pan); i++ {
			if i > 0 && i%4 == 0 {
				b.WriteByte(' ')
			}
			b.WriteByte(pan[i])
		}
		return b.String()
	case 2:
		return pan[:4] + "-" + pan[4:]
	}
	return pan
}

func TestPropertyCardToken(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pan := genPAN(t)
		keep := rapid.SampledFrom([]int{0, 6, 8}).Draw(t, "keepBIN")
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], rapid.Uint64().Draw(t, "seed"))
		rng := rand.NewChaCha8(seed)
		tok, err := CardToken(format(t, pan), keep, rng)
		if len(pan)-keep-4 < MinRandomDigits {
			if !errors.Is(err, ErrTooShort) {
				t.Fatalf("%d digits keeping %d: %v, want ErrTooShort", len(pan), keep, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		checkCardToken(t, pan, keep, tok)
	})
}

func TestPropertyDeterministicCardToken(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pan := genPAN(t)
		keep := rapid.SampledFrom([]int{0, 6, 8}).Draw(t, "keepBIN")
		key := rapid.SliceOfN(rapid.Byte(), KeyLen, KeyLen).Draw(t, "key")
		ns := rapid.String().Draw(t, "namespace")
		tok, err := DeterministicCardToken(format(t, pan), keep, key, ns)
		if len(pan)-keep-4 < MinRandomDigits {
			if !errors.Is(err, ErrTooShort) {
				t.Fatalf("%d digits keeping %d: %v, want ErrTooShort", len(pan), keep, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		checkCardToken(t, pan, keep, tok)
		again, err := DeterministicCardToken(pan, keep, bytes.Clone(key), ns)
		if err != nil || again != tok {
			t.Fatalf("second call: %q, %v; first %q", again, err, tok)
		}
	})
}

// A token is never a valid card, so tokenizing a token is refused: a token
// can never be mistaken for, or stored as, a card number.
func TestPropertyTokenIsNotACard(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pan := genPAN(t)
		tok, err := CardToken(pan, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NormalizeCard(tok); !errors.Is(err, ErrCardLuhn) {
			t.Fatalf("NormalizeCard(token) = %v, want ErrCardLuhn", err)
		}
	})
}
