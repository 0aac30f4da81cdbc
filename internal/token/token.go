package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
)

const (
	// Prefix starts every random token.
	Prefix = "tok_"
	// RandomChars is the number of base62 characters after the prefix.
	RandomChars = 22
	// MinCardDigits and MaxCardDigits bound the length of a card number (ISO/IEC 7812).
	MinCardDigits = 12
	MaxCardDigits = 19
	// MinRandomDigits is the fewest digits a card token must randomize.
	MinRandomDigits = 4
	// KeyLen is the length of the key of the deterministic variants.
	KeyLen = 32

	base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	digits = "0123456789"
)

// The errors of this package: none of them carries the value.
var (
	ErrCardFormat = errors.New("token: card number may hold only digits, spaces and dashes")
	ErrCardLength = errors.New("token: card number must have 12 to 19 digits")
	ErrCardLuhn   = errors.New("token: card number fails the Luhn check")
	ErrKeepBIN    = errors.New("token: the digits kept at the start must be 0, 6 or 8")
	ErrTooShort   = errors.New("token: card number too short to keep these digits and randomize at least 4")
	ErrKey        = errors.New("token: key must be 32 bytes")
)

// Random returns a new random token: Prefix and RandomChars base62
// characters from crypto/rand.
func Random() string {
	s, err := randomToken(rand.Reader)
	if err != nil {
		// crypto/rand.Reader does not return errors (it crashes the program
		// instead), so this is unreachable.
		panic("token: crypto/rand failed: " + err.Error())
	}
	return s
}

// DeterministicRandom returns the random-format token of value in namespace
// under key (KeyLen bytes): the same three give the same token.
func DeterministicRandom(key []byte, namespace, value string) (string, error) {
	r, err := newHMACReader(key, "coffer/token/random/v1", namespace, value)
	if err != nil {
		return "", err
	}
	return randomToken(r)
}

func randomToken(r io.Reader) (string, error) {
	b := make([]byte, len(Prefix)+RandomChars)
	copy(b, Prefix)
	if err := fillUniform(r, b[len(Prefix):], base62); err != nil {
		return "", err
	}
	return string(b), nil
}

// TimeChars is the length of the time part of a sorted random token.
const TimeChars = 8

// RandomSorted returns a random token that sorts by creation time: Prefix,
// the Unix time in milliseconds as TimeChars base62 digits, then
// RandomChars random characters (the same ≥ 128 bits as Random). A store
// keyed by token then appends instead of inserting at random places. The
// token reveals when it was made, to the millisecond.
func RandomSorted(now time.Time) string {
	b := make([]byte, len(Prefix)+TimeChars, len(Prefix)+TimeChars+RandomChars)
	copy(b, Prefix)
	ms := uint64(max(now.UnixMilli(), 0))
	for i := len(b) - 1; i >= len(Prefix); i-- {
		b[i] = base62[ms%62]
		ms /= 62
	}
	return string(b) + Random()[len(Prefix):]
}

// IsRandom reports whether s has the shape of a random token (Random or
// RandomSorted).
func IsRandom(s string) bool {
	if n := len(s) - len(Prefix); (n != RandomChars && n != TimeChars+RandomChars) || !strings.HasPrefix(s, Prefix) {
		return false
	}
	for i := len(Prefix); i < len(s); i++ {
		if strings.IndexByte(base62, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Luhn reports whether digits (ASCII digits only, at least one) passes the
// Luhn check of ISO/IEC 7812-1.
func Luhn(digits string) bool {
	if digits == "" {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return luhnSum(digits)%10 == 0
}

// luhnSum is the Luhn sum of a string of ASCII digits: from the right, every
// second digit is doubled and its digits added.
func luhnSum(d string) int {
	sum := 0
	for i, double := len(d)-1, false; i >= 0; i, double = i-1, !double {
		v := int(d[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum
}

// NormalizeCard returns the digits of a card number written with optional
// spaces or dashes, after checking that there are 12 to 19 of them and that
// they pass the Luhn check.
func NormalizeCard(pan string) (string, error) {
	d, err := cardDigits(pan)
	if err != nil {
		return "", err
	}
	if len(d) < MinCardDigits || len(d) > MaxCardDigits {
		return "", ErrCardLength
	}
	if luhnSum(d)%10 != 0 {
		return "", ErrCardLuhn
	}
	return d, nil
}

// cardDigits drops spaces and dashes and refuses any other non-digit. It
// stops early on absurd lengths so a huge input costs nothing.
func cardDigits(pan string) (string, error) {
	if len(pan) > 4*MaxCardDigits {
		return "", ErrCardLength
	}
	var b [4 * MaxCardDigits]byte
	n := 0
	for i := 0; i < len(pan); i++ {
		switch c := pan[i]; {
		case c >= '0' && c <= '9':
			b[n] = c
			n++
		case c == ' ' || c == '-':
		default:
			return "", ErrCardFormat
		}
	}
	return string(b[:n]), nil
}

// CardToken returns a card-format token for pan (a valid card number, see
// NormalizeCard): same length, the last 4 digits and the first keepBIN (0, 6
// or 8) kept, the rest drawn from r (crypto/rand.Reader when r is nil), and
// failing the Luhn check.
func CardToken(pan string, keepBIN int, r io.Reader) (string, error) {
	d, err := NormalizeCard(pan)
	if err != nil {
		return "", err
	}
	if r == nil {
		r = rand.Reader
	}
	return cardToken(d, keepBIN, r)
}

// DeterministicCardToken is CardToken with the random digits derived from
// key (KeyLen bytes), namespace, keepBIN and the card's digits: the same
// card in the same namespace always gets the same token.
func DeterministicCardToken(pan string, keepBIN int, key []byte, namespace string) (string, error) {
	d, err := NormalizeCard(pan)
	if err != nil {
		return "", err
	}
	r, err := newHMACReader(key, "coffer/token/card/v1", namespace, strconv.Itoa(keepBIN)+":"+d)
	if err != nil {
		return "", err
	}
	return cardToken(d, keepBIN, r)
}

func cardToken(d string, keepBIN int, r io.Reader) (string, error) {
	switch keepBIN {
	case 0, 6, 8:
	default:
		return "", ErrKeepBIN
	}
	n := len(d)
	if n-keepBIN-4 < MinRandomDigits {
		return "", ErrTooShort
	}
	tok := []byte(d)
	mid := tok[keepBIN : n-4]
	if err := fillUniform(r, mid, digits); err != nil {
		return "", err
	}
	if luhnSum(string(tok))%10 == 0 {
		// Replace the last random digit with one of the other nine. Changing
		// one digit always breaks the check: the digit's share of the sum (d,
		// or the digit sum of 2d) takes ten different values mod 10 over the
		// ten digits. Every failing string stays equally likely: drawn as it
		// is (1/10^k), or reached from its one passing neighbour at this
		// position (1/10^k times 1/9).
		var pick [1]byte
		if err := fillUniform(r, pick[:], digits[:9]); err != nil {
			return "", err
		}
		last := &mid[len(mid)-1]
		*last = '0' + (*last-'0'+1+pick[0]-'0')%10
	}
	// The card passes the Luhn check and the token does not, so they differ.
	return string(tok), nil
}

// fillUniform fills dst with characters of alphabet (at most 256), each
// uniform and independent, from the bytes of r by rejection sampling.
func fillUniform(r io.Reader, dst []byte, alphabet string) error {
	limit := 256 - 256%len(alphabet) // bytes at or above are dropped
	var buf [64]byte
	for i := 0; i < len(dst); {
		want := min(len(buf), len(dst)-i) // no more than needed: a deterministic stream stays aligned
		if _, err := io.ReadFull(r, buf[:want]); err != nil {
			return err
		}
		for _, c := range buf[:want] {
			if int(c) < limit {
				dst[i] = alphabet[int(c)%len(alphabet)]
				if i++; i == len(dst) {
					break
				}
			}
		}
	}
	return nil
}

// hmacReader is a deterministic byte stream: HMAC-SHA256(key, counter ||
// message) for counter 0, 1, 2, ... where the message encodes a label, the
// namespace and the value with length prefixes, so no two inputs share one.
type hmacReader struct {
	mac  hash.Hash
	msg  []byte
	ctr  uint32
	out  []byte
	left []byte
}

func newHMACReader(key []byte, label, namespace, value string) (*hmacReader, error) {
	if len(key) != KeyLen {
		return nil, ErrKey
	}
	msg := make([]byte, 0, 4+len(label)+4+len(namespace)+4+len(value))
	for _, part := range []string{label, namespace, value} {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(part)))
		msg = append(msg, part...)
	}
	return &hmacReader{mac: hmac.New(sha256.New, key), msg: msg}, nil
}

func (h *hmacReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(h.left) == 0 {
			h.mac.Reset()
			var c [4]byte
			binary.BigEndian.PutUint32(c[:], h.ctr)
			h.ctr++
			h.mac.Write(c[:])
			h.mac.Write(h.msg)
			h.out = h.mac.Sum(h.out[:0])
			h.left = h.out
		}
		k := copy(p[n:], h.left)
		h.left = h.left[k:]
		n += k
	}
	return n, nil
}
