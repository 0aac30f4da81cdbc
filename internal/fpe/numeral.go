package fpe

import (
	"crypto/aes"
	"crypto/cipher"
	"math/big"
	"math/bits"
)

const (
	minDomain = 1_000_000 // SP 800-38G Rev. 1: radix^minlen >= 1,000,000
	maxRadix  = 1 << 16
)

// minLen is the smallest n with radix^n >= minDomain. Because maxRadix is
// below minDomain it is always at least 2, as both ciphers require.
func minLen(radix uint64) int {
	n, p := 1, radix
	for p < minDomain {
		p *= radix
		n++
	}
	return n
}

func newBlock(key []byte) (cipher.Block, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, ErrKey
	}
	return aes.NewCipher(key)
}

// powers holds radix^k for k = 0..max: every one as a big.Int, and the ones
// below 2^64 also as uint64 (small[k] for k < len(small)). The tables are
// built once per cipher and only read afterwards.
type powers struct {
	radix uint64
	small []uint64
	big   []*big.Int
	chunk int // numerals per uint64 chunk in the big conversions
}

func newPowers(radix uint64, max int) powers {
	p := powers{radix: radix, big: make([]*big.Int, max+1)}
	r := new(big.Int).SetUint64(radix)
	acc := big.NewInt(1)
	small, fits := uint64(1), true
	for k := 0; k <= max; k++ {
		p.big[k] = new(big.Int).Set(acc)
		acc.Mul(acc, r)
		if fits {
			p.small = append(p.small, small)
			hi, lo := bits.Mul64(small, radix)
			fits = hi == 0
			small = lo
		}
	}
	// The largest k with radix^k < 2^64; radix >= 2 makes it at least 1
	// once max >= 1.
	p.chunk = len(p.small) - 1
	return p
}

// fits64 reports whether radix^k < 2^64.
func (p *powers) fits64(k int) bool { return k < len(p.small) }

// numBE is NUM_radix(x) with x[0] the most significant numeral.
func numBE(x []uint16, radix uint64) uint64 {
	var v uint64
	for _, d := range x {
		v = v*radix + uint64(d)
	}
	return v
}

// numLE is NUM_radix(REV(x)): x[0] is the least significant numeral.
func numLE(x []uint16, radix uint64) uint64 {
	var v uint64
	for i := len(x) - 1; i >= 0; i-- {
		v = v*radix + uint64(x[i])
	}
	return v
}

// strBE is STR^len(dst)_radix(v): dst[0] is the most significant numeral.
func strBE(dst []uint16, v, radix uint64) {
	if radix == 10 { // constant divisor: the compiler turns it into a multiply
		for i := len(dst) - 1; i >= 0; i-- {
			dst[i] = uint16(v % 10)
			v /= 10
		}
		return
	}
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = uint16(v % radix)
		v /= radix
	}
}

// strLE is REV(STR^len(dst)_radix(v)): dst[0] is the least significant numeral.
func strLE(dst []uint16, v, radix uint64) {
	if radix == 10 {
		for i := range dst {
			dst[i] = uint16(v % 10)
			v /= 10
		}
		return
	}
	for i := range dst {
		dst[i] = uint16(v % radix)
		v /= radix
	}
}

// numBigBE sets z to NUM_radix(x), x[0] most significant, a chunk of
// numerals at a time.
func (p *powers) numBigBE(z *big.Int, x []uint16, tmp *big.Int) *big.Int {
	z.SetUint64(0)
	for len(x) > 0 {
		k := min(p.chunk, len(x))
		z.Mul(z, p.big[k])
		z.Add(z, tmp.SetUint64(numBE(x[:k], p.radix)))
		x = x[k:]
	}
	return z
}

// numBigLE sets z to NUM_radix(REV(x)), x[0] least significant.
func (p *powers) numBigLE(z *big.Int, x []uint16, tmp *big.Int) *big.Int {
	z.SetUint64(0)
	for len(x) > 0 {
		k := min(p.chunk, len(x))
		z.Mul(z, p.big[k])
		z.Add(z, tmp.SetUint64(numLE(x[len(x)-k:], p.radix)))
		x = x[:len(x)-k]
	}
	return z
}

// strBigBE writes STR^len(dst)_radix(z) into dst; z must be below
// radix^len(dst) and is destroyed.
func (p *powers) strBigBE(dst []uint16, z, tmp *big.Int) {
	for len(dst) > 0 {
		k := min(p.chunk, len(dst))
		z.QuoRem(z, p.big[k], tmp)
		strBE(dst[len(dst)-k:], tmp.Uint64(), p.radix)
		dst = dst[:len(dst)-k]
	}
}

// strBigLE writes REV(STR^len(dst)_radix(z)) into dst; z is destroyed.
func (p *powers) strBigLE(dst []uint16, z, tmp *big.Int) {
	for len(dst) > 0 {
		k := min(p.chunk, len(dst))
		z.QuoRem(z, p.big[k], tmp)
		strLE(dst[:k], tmp.Uint64(), p.radix)
		dst = dst[k:]
	}
}

// addMod returns (a + b) mod m for a, b < m, without overflow.
func addMod(a, b, m uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 || s >= m {
		s -= m
	}
	return s
}

// subMod returns (a - b) mod m for a, b < m.
func subMod(a, b, m uint64) uint64 {
	if a >= b {
		return a - b
	}
	return a + (m - b)
}

// modBE returns NUM(s) mod m for a big-endian byte string whose length is
// a multiple of 4.
func modBE(s []byte, m uint64) uint64 {
	var r uint64
	if len(s)%8 != 0 {
		r = uint64(be32(s)) % m
		s = s[4:]
	}
	for ; len(s) >= 8; s = s[8:] {
		_, r = bits.Div64(r, be64(s), m)
	}
	return r
}

func checkNumerals(x []uint16, radix uint64) error {
	for _, d := range x {
		if uint64(d) >= radix {
			return ErrNumeral
		}
	}
	return nil
}

func be32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(be32(b))<<32 | uint64(be32(b[4:]))
}

func xor16(dst, src []byte) {
	_, _ = dst[15], src[15]
	for i := range 16 {
		dst[i] ^= src[i]
	}
}
