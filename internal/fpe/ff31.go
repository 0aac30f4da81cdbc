package fpe

import (
	"crypto/cipher"
	"encoding/binary"
	"math/big"
	"math/bits"
)

const (
	// FF31TweakLen is the FF3-1 tweak length in bytes (56 bits).
	FF31TweakLen = 7
	ff31Rounds   = 8
)

// FF31 is the FF3-1 mode of SP 800-38G Rev. 1 on AES for one key and radix.
type FF31 struct {
	block  cipher.Block // keyed with REVB(K)
	radix  uint64
	minLen int
	maxLen int    // 2*floor(log_radix(2^96))
	pow    powers // radix^k for k <= maxLen/2
}

// NewFF31 returns FF3-1 for a 16-, 24- or 32-byte AES key and a radix in
// 2..65536. The key is copied (byte-reversed, as the standard specifies) into
// the AES key schedule and not kept.
func NewFF31(key []byte, radix int) (*FF31, error) {
	if radix < 2 || radix > maxRadix {
		return nil, ErrRadix
	}
	if l := len(key); l != 16 && l != 24 && l != 32 {
		return nil, ErrKey
	}
	var rev [32]byte
	k := rev[:len(key)]
	for i := range k {
		k[i] = key[len(key)-1-i]
	}
	block, err := newBlock(k)
	clear(rev[:])
	if err != nil {
		return nil, err
	}
	r := uint64(radix)
	// floor(log_radix(2^96)): the largest h with radix^h <= 2^96.
	limit := new(big.Int).Lsh(big.NewInt(1), 96)
	h, p, br := 0, big.NewInt(1), new(big.Int).SetUint64(r)
	for {
		p.Mul(p, br)
		if p.Cmp(limit) > 0 {
			break
		}
		h++
	}
	return &FF31{block: block, radix: r, minLen: minLen(r), maxLen: 2 * h, pow: newPowers(r, h)}, nil
}

// Radix returns the radix the cipher was made for.
func (f *FF31) Radix() int { return int(f.radix) }

// MinLen returns the fewest numerals accepted: the smallest n with
// radix^n >= 1,000,000.
func (f *FF31) MinLen() int { return f.minLen }

// MaxLen returns the most numerals accepted: 2*floor(log_radix(2^96)), for
// example 56 for radix 10 and 40 for radix 26.
func (f *FF31) MaxLen() int { return f.maxLen }

// Encrypt returns FF3-1.Encrypt(K, tweak, x) as a new slice. The tweak must be
// exactly FF31TweakLen (7) bytes.
func (f *FF31) Encrypt(tweak []byte, x []uint16) ([]uint16, error) {
	out := make([]uint16, len(x))
	if err := f.crypt(out, tweak, x, false); err != nil {
		return nil, err
	}
	return out, nil
}

// Decrypt returns FF3-1.Decrypt(K, tweak, x) as a new slice.
func (f *FF31) Decrypt(tweak []byte, x []uint16) ([]uint16, error) {
	out := make([]uint16, len(x))
	if err := f.crypt(out, tweak, x, true); err != nil {
		return nil, err
	}
	return out, nil
}

// EncryptString encrypts s, written in alphabet (whose i-th character is the
// numeral i; it must have exactly Radix characters), and returns the
// ciphertext in the same alphabet.
func (f *FF31) EncryptString(tweak []byte, s, alphabet string) (string, error) {
	return cryptString(f.crypt, int(f.radix), f.maxLen, tweak, s, alphabet, false)
}

// DecryptString reverses EncryptString.
func (f *FF31) DecryptString(tweak []byte, s, alphabet string) (string, error) {
	return cryptString(f.crypt, int(f.radix), f.maxLen, tweak, s, alphabet, true)
}

func (f *FF31) check(tweak []byte, x []uint16) error {
	switch n := len(x); {
	case n < f.minLen:
		return ErrDomainTooSmall
	case n > f.maxLen:
		return ErrTooLong
	case len(tweak) != FF31TweakLen:
		return ErrTweak
	}
	return checkNumerals(x, f.radix)
}

// crypt writes FF3-1 of x into dst (same length; dst may alias x).
func (f *FF31) crypt(dst []uint16, tweak []byte, x []uint16, decrypt bool) error {
	if err := f.check(tweak, x); err != nil {
		return err
	}
	// T_L = T[0..27] || 0^4 and T_R = T[32..55] || T[28..31] || 0^4.
	tl := [4]byte{tweak[0], tweak[1], tweak[2], tweak[3] & 0xf0}
	tr := [4]byte{tweak[4], tweak[5], tweak[6], tweak[3] << 4}
	n := len(x)
	u := (n + 1) / 2
	if f.pow.fits64(u) {
		f.crypt64(dst, x, u, &tl, &tr, decrypt)
	} else {
		f.cryptBig(dst, x, u, &tl, &tr, decrypt)
	}
	return nil
}

// round computes the AES output for round i from W and the 12-byte
// little-endian encoding of NUM_radix(REV(X)) already placed in buf[:12].
//
// The standard forms P = (W xor [i]^4) || [NUM_radix(REV(X))]^12 and takes
// S = REVB(CIPH_REVB(K)(REVB(P))). buf is REVB(P) built directly: the
// number in little-endian order, then W xor [i]^4 reversed. The output stays
// reversed, so y = NUM(S) is read from it little-endian.
func (f *FF31) round(buf []byte, w *[4]byte, i int) {
	buf[12] = w[3] ^ byte(i)
	buf[13] = w[2]
	buf[14] = w[1]
	buf[15] = w[0]
	f.block.Encrypt(buf[16:32], buf[:16])
}

func (f *FF31) crypt64(dst, x []uint16, u int, tl, tr *[4]byte, decrypt bool) {
	v := len(x) - u
	radix := f.radix
	mu, mv := f.pow.small[u], f.pow.small[v]
	a, b := numLE(x[:u], radix), numLE(x[u:], radix)
	buf := make([]byte, 32) // [0:16] REVB(P), [16:32] the AES output
	for k := range ff31Rounds {
		i := k
		if decrypt {
			i = ff31Rounds - 1 - k
		}
		m, w := mv, tl
		if i%2 == 0 {
			m, w = mu, tr
		}
		in := b
		if decrypt {
			in = a
		}
		binary.LittleEndian.PutUint64(buf[:8], in)
		f.round(buf, w, i)
		lo := binary.LittleEndian.Uint64(buf[16:24])
		hi := binary.LittleEndian.Uint64(buf[24:32])
		y := mod128(hi, lo, m)
		if !decrypt {
			a, b = b, addMod(a, y, m)
		} else {
			a, b = subMod(b, y, m), a
		}
	}
	strLE(dst[:u], a, radix)
	strLE(dst[u:], b, radix)
}

func (f *FF31) cryptBig(dst, x []uint16, u int, tl, tr *[4]byte, decrypt bool) {
	v := len(x) - u
	mu, mv := f.pow.big[u], f.pow.big[v]
	a, b, y, tmp := new(big.Int), new(big.Int), new(big.Int), new(big.Int)
	f.pow.numBigLE(a, x[:u], tmp)
	f.pow.numBigLE(b, x[u:], tmp)
	buf := make([]byte, 32)
	var be [16]byte
	for k := range ff31Rounds {
		i := k
		if decrypt {
			i = ff31Rounds - 1 - k
		}
		m, w := mv, tl
		if i%2 == 0 {
			m, w = mu, tr
		}
		in := b
		if decrypt {
			in = a
		}
		in.FillBytes(be[:12]) // below radix^u <= 2^96
		for j := range 12 {
			buf[j] = be[11-j]
		}
		f.round(buf, w, i)
		for j := range 16 {
			be[j] = buf[31-j]
		}
		y.SetBytes(be[:])
		if !decrypt {
			y.Add(y, a)
			y.Mod(y, m)
			a, b, y = b, y, a
		} else {
			y.Sub(b, y)
			y.Mod(y, m)
			a, b, y = y, a, b
		}
	}
	f.pow.strBigLE(dst[:u], a, tmp)
	f.pow.strBigLE(dst[u:], b, tmp)
}

// mod128 returns (hi*2^64 + lo) mod m.
func mod128(hi, lo, m uint64) uint64 {
	_, r := bits.Div64(hi%m, lo, m)
	return r
}
