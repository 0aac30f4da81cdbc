package fpe

import (
	"strings"
	"unicode/utf8"
)

// Alphabets for the string API: the i-th character stands for numeral i.
const (
	Digits      = "0123456789"
	Base36      = "0123456789abcdefghijklmnopqrstuvwxyz"
	Base62      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	LowerLetter = "abcdefghijklmnopqrstuvwxyz"
)

// alphabet indexes the characters of an alphabet string. ASCII alphabets
// (the common case) use a 128-entry table built on the stack; others a map,
// built per call, so hot paths with large Unicode alphabets should use the
// numeral API.
type alphabet struct {
	s     string
	ascii bool
	table [128]uint8 // numeral+1, 0 for absent (ASCII alphabets have at most 128 characters)
	runes []rune
	index map[rune]uint16
}

func parseAlphabet(a *alphabet, s string, radix int) error {
	a.s = s
	a.ascii = true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			a.ascii = false
			break
		}
	}
	if a.ascii {
		if len(s) != radix {
			return ErrAlphabet
		}
		for i := 0; i < len(s); i++ {
			if a.table[s[i]] != 0 {
				return ErrAlphabet
			}
			a.table[s[i]] = uint8(i + 1)
		}
		return nil
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) != radix {
		return ErrAlphabet
	}
	a.runes = []rune(s)
	a.index = make(map[rune]uint16, radix)
	for i, r := range a.runes {
		if _, dup := a.index[r]; dup {
			return ErrAlphabet
		}
		a.index[r] = uint16(i)
	}
	return nil
}

// decode turns s into numerals; maxLen bounds the work before it starts.
func (a *alphabet) decode(s string, maxLen int) ([]uint16, error) {
	if a.ascii {
		if len(s) > maxLen {
			return nil, ErrTooLong
		}
		x := make([]uint16, len(s))
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= utf8.RuneSelf || a.table[c] == 0 {
				return nil, ErrNumeral
			}
			x[i] = uint16(a.table[c] - 1)
		}
		return x, nil
	}
	if len(s) > utf8.UTFMax*maxLen || utf8.RuneCountInString(s) > maxLen {
		return nil, ErrTooLong
	}
	x := make([]uint16, 0, utf8.RuneCountInString(s))
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		d, ok := a.index[r]
		if !ok || r == utf8.RuneError && size == 1 { // not in the alphabet, or not UTF-8
			return nil, ErrNumeral
		}
		x = append(x, d)
		s = s[size:]
	}
	return x, nil
}

func (a *alphabet) encode(x []uint16) string {
	var sb strings.Builder
	if a.ascii {
		sb.Grow(len(x))
		for _, d := range x {
			sb.WriteByte(a.s[d])
		}
		return sb.String()
	}
	sb.Grow(len(x) * 2)
	for _, d := range x {
		sb.WriteRune(a.runes[d])
	}
	return sb.String()
}

type cryptFunc func(dst []uint16, tweak []byte, x []uint16, decrypt bool) error

func cryptString(crypt cryptFunc, radix, maxLen int, tweak []byte, s, alpha string, decrypt bool) (string, error) {
	var a alphabet
	if err := parseAlphabet(&a, alpha, radix); err != nil {
		return "", err
	}
	x, err := a.decode(s, maxLen)
	if err != nil {
		return "", err
	}
	if err := crypt(x, tweak, x, decrypt); err != nil {
		return "", err
	}
	return a.encode(x), nil
}
