package keyring

// Shamir's secret sharing over GF(2^8), written here rather than imported:
// it is about a hundred lines, easy to audit, and there is no well-kept Go
// library for it without a large dependency (HashiCorp's shamir package
// lives inside the Vault module). The field is AES's: x^8+x^4+x^3+x+1.
// Multiplication is branch-free and uses no tables, so its timing does not
// depend on the secret.
//
// A split does not share the root itself: it shares a random 32-byte
// unseal key that AES-256-GCM-wraps the root in the envelope. Combining a
// wrong set of shares (a typo that kept its checksum, a share of another
// split) yields a different unseal key, the envelope does not open, and
// the combination is refused.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/cofferhq/coffer"
)

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1 in constant time.
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)      // add a when b's low bit is set
		hi := -(a >> 7)        // 0xff when a's top bit is set
		a = a<<1 ^ (0x1b & hi) // a·x, reduced
		b >>= 1
	}
	return p
}

// gfInv returns a^-1 (a^254); gfInv(0) is 0.
func gfInv(a byte) byte {
	r := byte(1)
	for e := 254; e > 0; e >>= 1 {
		if e&1 == 1 {
			r = gfMul(r, a)
		}
		a = gfMul(a, a)
	}
	return r
}

// split shares secret k-of-n: share i (x = i, 1..n) holds f_j(i) for one
// random polynomial f_j of degree k-1 per secret byte, with f_j(0) the
// secret byte.
func split(secret []byte, k, n int) [][]byte {
	ys := make([][]byte, n)
	for i := range ys {
		ys[i] = make([]byte, len(secret))
	}
	coef := make([]byte, k)
	defer clear(coef)
	for j, s := range secret {
		coef[0] = s
		rand.Read(coef[1:])
		for i := range n {
			x := byte(i + 1)
			var y byte // Horner
			for c := k - 1; c >= 0; c-- {
				y = gfMul(y, x) ^ coef[c]
			}
			ys[i][j] = y
		}
	}
	return ys
}

// combine interpolates f(0) from points (xs[i], ys[i]) (Lagrange). The xs
// are distinct and non-zero (the caller checks).
func combine(xs []byte, ys [][]byte) []byte {
	out := make([]byte, len(ys[0]))
	for i, xi := range xs {
		// l_i(0) = Π_{m≠i} x_m / (x_m - x_i); subtraction is XOR.
		l := byte(1)
		for m, xm := range xs {
			if m != i {
				l = gfMul(l, gfMul(xm, gfInv(xm^xi)))
			}
		}
		for j := range out {
			out[j] ^= gfMul(l, ys[i][j])
		}
	}
	return out
}

// A Share is one holder's part of a Shamir split. Its text form is
// "coffer-share-" followed by base64url of: version (1), split id (8),
// threshold (1), index (1), 32 bytes of share, and a 4-byte checksum
// (SHA-256 of what precedes). The checksum catches typos before the share
// is counted; the id and threshold catch a share of another split.
type Share struct {
	ID        [8]byte
	Threshold int
	Index     byte
	Y         []byte
}

const (
	sharePrefix  = "coffer-share-"
	shareVersion = 1
	shareBodyLen = 1 + 8 + 1 + 1 + 32
	shareLen     = shareBodyLen + 4
)

// Text returns the share's text form. It is a secret: print it once, to
// its holder. (String and the other printers redact.)
func (s *Share) Text() string {
	b := make([]byte, 0, shareLen)
	b = append(b, shareVersion)
	b = append(b, s.ID[:]...)
	b = append(b, byte(s.Threshold), s.Index)
	b = append(b, s.Y...)
	sum := sha256.Sum256(b)
	b = append(b, sum[:4]...)
	defer clear(b)
	return sharePrefix + base64.RawURLEncoding.EncodeToString(b)
}

func (*Share) String() string               { return redacted }
func (*Share) GoString() string             { return redacted }
func (*Share) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (*Share) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Destroy zeroes the share.
func (s *Share) Destroy() { clear(s.Y) }

var errShare = &coffer.Error{Code: coffer.EINVALID, Message: "not a Coffer share (check for a typo: the checksum does not match)"}

// ParseShare parses a share's text form, checking its checksum. Errors
// never quote the input.
func ParseShare(text string) (*Share, error) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, sharePrefix) {
		return nil, errShare
	}
	b, err := base64.RawURLEncoding.DecodeString(text[len(sharePrefix):])
	defer clear(b)
	if err != nil || len(b) != shareLen || b[0] != shareVersion {
		return nil, errShare
	}
	sum := sha256.Sum256(b[:shareBodyLen])
	if subtle.ConstantTimeCompare(sum[:4], b[shareBodyLen:]) != 1 {
		return nil, errShare
	}
	s := &Share{Threshold: int(b[9]), Index: b[10], Y: append([]byte(nil), b[11:shareBodyLen]...)}
	copy(s.ID[:], b[1:9])
	if s.Threshold < 2 || s.Index == 0 {
		return nil, errShare
	}
	return s, nil
}

// Split wraps r under a fresh unseal key and splits that key into n
// shares, any k of which open the envelope. The shares are secrets: hand
// each to one holder and keep none.
func Split(r *Root, k, n int) (*Envelope, []*Share, error) {
	if k < 2 || k > n || n > 255 {
		return nil, nil, errors.New("keyring: shamir needs 2 ≤ threshold ≤ shares ≤ 255")
	}
	e := newEnvelope(ProviderShamir)
	e.Shamir = &ShamirParams{Threshold: k, Shares: n}
	key := make([]byte, 32)
	rand.Read(key)
	defer clear(key)
	if err := e.seal(key, r); err != nil {
		return nil, nil, err
	}
	var id [8]byte
	hex.Decode(id[:], []byte(e.ID))
	ys := split(key, k, n)
	shares := make([]*Share, n)
	for i, y := range ys {
		shares[i] = &Share{ID: id, Threshold: k, Index: byte(i + 1), Y: y}
	}
	return e, shares, nil
}

// checkShare tells whether s belongs to the split e describes.
func (e *Envelope) checkShare(s *Share) error {
	if hex.EncodeToString(s.ID[:]) != e.ID || s.Threshold != e.Shamir.Threshold {
		return &coffer.Error{Code: coffer.EINVALID, Message: "this share belongs to another key set"}
	}
	if int(s.Index) > e.Shamir.Shares {
		return errShare
	}
	return nil
}

// Shares is a set of shares as an Identity: it opens a shamir envelope
// when it holds at least the threshold of distinct shares of its split.
type Shares []*Share

var _ Identity = Shares(nil)

// Unwrap combines the shares and opens the root; ErrWrongCombination when
// the combined key does not open the envelope.
func (ss Shares) Unwrap(e *Envelope) (*Root, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	if e.Provider != ProviderShamir {
		return nil, errors.New("keyring: not a shamir envelope")
	}
	var xs []byte
	var ys [][]byte
	seen := map[byte]bool{}
	for _, s := range ss {
		if err := e.checkShare(s); err != nil {
			return nil, err
		}
		if seen[s.Index] {
			return nil, &coffer.Error{Code: coffer.EINVALID, Message: fmt.Sprintf("share %d was given twice", s.Index)}
		}
		seen[s.Index] = true
		xs, ys = append(xs, s.Index), append(ys, s.Y)
	}
	if len(xs) < e.Shamir.Threshold {
		return nil, coffer.Errorf(coffer.ESEALED, "%d of %d shares", len(xs), e.Shamir.Threshold)
	}
	key := combine(xs[:e.Shamir.Threshold], ys[:e.Shamir.Threshold])
	defer clear(key)
	r, err := e.open(key)
	if err != nil {
		return nil, ErrWrongCombination
	}
	return r, nil
}
