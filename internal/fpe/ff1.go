package fpe

import (
	"crypto/cipher"
	"encoding/binary"
	"math/big"
)

const (
	// FF1MaxLen is the most numerals FF1 accepts. SP 800-38G allows 2^32;
	// this bound keeps one call in the tens of microseconds at any radix.
	FF1MaxLen = 256
	// FF1MaxTweakLen is the longest FF1 tweak, in bytes.
	FF1MaxTweakLen = 256
	ff1Rounds      = 10
)

// FF1 is the FF1 mode of SP 800-38G Rev. 1 on AES for one key and radix.
type FF1 struct {
	block  cipher.Block
	radix  uint64
	minLen int
	pow    powers // radix^k for k <= FF1MaxLen/2
	b      []int  // b[v] = ceil(ceil(v*log2(radix))/8), the byte length of NUM_radix(B)
}

// NewFF1 returns FF1 for a 16-, 24- or 32-byte AES key and a radix in
// 2..65536. The key is copied into the AES key schedule and not kept.
func NewFF1(key []byte, radix int) (*FF1, error) {
	if radix < 2 || radix > maxRadix {
		return nil, ErrRadix
	}
	block, err := newBlock(key)
	if err != nil {
		return nil, err
	}
	r := uint64(radix)
	f := &FF1{block: block, radix: r, minLen: minLen(r), pow: newPowers(r, FF1MaxLen/2)}
	f.b = make([]int, FF1MaxLen/2+1)
	one, t := big.NewInt(1), new(big.Int)
	for v := range f.b {
		// ceil(v*log2(radix)) is the bit length of radix^v - 1: exact for
		// powers of two, and for any other radix v*log2(radix) is not an
		// integer, so it is the bit length of radix^v itself, which equals
		// that of radix^v - 1.
		f.b[v] = (t.Sub(f.pow.big[v], one).BitLen() + 7) / 8
	}
	return f, nil
}

// Radix returns the radix the cipher was made for.
func (f *FF1) Radix() int { return int(f.radix) }

// MinLen returns the fewest numerals accepted: the smallest n with
// radix^n >= 1,000,000.
func (f *FF1) MinLen() int { return f.minLen }

// MaxLen returns the most numerals accepted, FF1MaxLen.
func (f *FF1) MaxLen() int { return FF1MaxLen }

// Encrypt returns FF1.Encrypt(K, tweak, x) as a new slice. The tweak may be
// empty and at most FF1MaxTweakLen bytes long.
func (f *FF1) Encrypt(tweak []byte, x []uint16) ([]uint16, error) {
	out := make([]uint16, len(x))
	if err := f.crypt(out, tweak, x, false); err != nil {
		return nil, err
	}
	return out, nil
}

// Decrypt returns FF1.Decrypt(K, tweak, x) as a new slice.
func (f *FF1) Decrypt(tweak []byte, x []uint16) ([]uint16, error) {
	out := make([]uint16, len(x))
	if err := f.crypt(out, tweak, x, true); err != nil {
		return nil, err
	}
	return out, nil
}

// EncryptString encrypts s, written in alphabet (whose i-th character is the
// numeral i; it must have exactly Radix characters), and returns the
// ciphertext in the same alphabet.
func (f *FF1) EncryptString(tweak []byte, s, alphabet string) (string, error) {
	return cryptString(f.crypt, int(f.radix), FF1MaxLen, tweak, s, alphabet, false)
}

// DecryptString reverses EncryptString.
func (f *FF1) DecryptString(tweak []byte, s, alphabet string) (string, error) {
	return cryptString(f.crypt, int(f.radix), FF1MaxLen, tweak, s, alphabet, true)
}

func (f *FF1) check(tweak []byte, x []uint16) error {
	switch n := len(x); {
	case n < f.minLen:
		return ErrDomainTooSmall
	case n > FF1MaxLen:
		return ErrTooLong
	case len(tweak) > FF1MaxTweakLen:
		return ErrTweak
	}
	return checkNumerals(x, f.radix)
}

// crypt writes FF1 of x into dst (same length; dst may alias x).
func (f *FF1) crypt(dst []uint16, tweak []byte, x []uint16, decrypt bool) error {
	if err := f.check(tweak, x); err != nil {
		return err
	}
	st := f.newState(tweak, len(x))
	if f.pow.fits64(st.v) {
		f.crypt64(&st, dst, x, decrypt)
	} else {
		f.cryptBig(&st, dst, x, decrypt)
	}
	return nil
}

// ff1State holds what the ten rounds of one call share: the CBC-MAC state
// after P and after every 16-byte block of Q made only of the tweak and its
// zero padding (the same in all rounds), and a buffer for the rest of Q,
// which begins with the tail of those constant bytes, then the round number
// and NUM_radix(B) in b bytes.
type ff1State struct {
	u, v, b, d int
	state      []byte // 16 bytes, CBC-MAC of the constant prefix
	rest       []byte // multiple of 16
	numAt      int    // where [NUM_radix(B)]^b starts in rest
	s          []byte // S, rounded up to whole blocks; R is s[:16]
}

func (f *FF1) newState(tweak []byte, n int) ff1State {
	u := n / 2
	v := n - u
	b := f.b[v]
	d := 4*((b+3)/4) + 4
	t := len(tweak)
	pad := (16 - (t+b+1)%16) % 16
	constLen := t + pad
	full := constLen / 16
	tail := constLen % 16
	restLen := tail + 1 + b
	sLen := (d + 15) &^ 15

	buf := make([]byte, 16+restLen+sLen) // the one allocation of the rounds
	st := ff1State{u: u, v: v, b: b, d: d, state: buf[:16:16], rest: buf[16 : 16+restLen], numAt: tail + 1, s: buf[16+restLen:]}

	// P = [1]^1 || [2]^1 || [1]^1 || [radix]^3 || [10]^1 || [u mod 256]^1 || [n]^4 || [t]^4
	p := st.state
	p[0], p[1], p[2] = 1, 2, 1
	p[3], p[4], p[5] = byte(f.radix>>16), byte(f.radix>>8), byte(f.radix)
	p[6], p[7] = 10, byte(u)
	binary.BigEndian.PutUint32(p[8:], uint32(n))
	binary.BigEndian.PutUint32(p[12:], uint32(t))
	f.block.Encrypt(p, p)

	for k := range full {
		blk := st.rest[:16] // scratch: rest is at least 16 bytes long
		constBytes(blk, tweak, 16*k)
		xor16(p, blk)
		f.block.Encrypt(p, p)
	}
	constBytes(st.rest[:tail], tweak, 16*full)
	clear(st.rest[tail:])
	return st
}

// constBytes fills dst with bytes off.. of T || [0]^pad.
func constBytes(dst, tweak []byte, off int) {
	for i := range dst {
		if j := off + i; j < len(tweak) {
			dst[i] = tweak[j]
		} else {
			dst[i] = 0
		}
	}
}

// prf computes S for round i from the bytes of NUM_radix(B) already placed
// in st.rest: R = PRF(P || Q), then S = R || CIPH(R ^ [1]^16) || ... .
func (f *FF1) prf(st *ff1State, i int) []byte {
	st.rest[st.numAt-1] = byte(i)
	r := st.s[:16]
	copy(r, st.state)
	for k := 0; k < len(st.rest); k += 16 {
		xor16(r, st.rest[k:k+16])
		f.block.Encrypt(r, r)
	}
	for j := 1; 16*j < st.d; j++ {
		blk := st.s[16*j : 16*j+16]
		copy(blk, r)
		blk[12] ^= byte(j >> 24)
		blk[13] ^= byte(j >> 16)
		blk[14] ^= byte(j >> 8)
		blk[15] ^= byte(j)
		f.block.Encrypt(blk, blk)
	}
	return st.s[:st.d]
}

// crypt64 runs the rounds on uint64 values; radix^v must be below 2^64.
func (f *FF1) crypt64(st *ff1State, dst, x []uint16, decrypt bool) {
	u, v, b := st.u, st.v, st.b
	radix := f.radix
	mu, mv := f.pow.small[u], f.pow.small[v]
	a, bb := numBE(x[:u], radix), numBE(x[u:], radix)
	var num [8]byte
	if !decrypt {
		for i := range ff1Rounds {
			binary.BigEndian.PutUint64(num[:], bb)
			copy(st.rest[st.numAt:], num[8-b:])
			m := mv
			if i%2 == 0 {
				m = mu
			}
			y := modBE(f.prf(st, i), m)
			a, bb = bb, addMod(a, y, m)
		}
	} else {
		for i := ff1Rounds - 1; i >= 0; i-- {
			binary.BigEndian.PutUint64(num[:], a)
			copy(st.rest[st.numAt:], num[8-b:])
			m := mv
			if i%2 == 0 {
				m = mu
			}
			y := modBE(f.prf(st, i), m)
			a, bb = subMod(bb, y, m), a
		}
	}
	strBE(dst[:u], a, radix)
	strBE(dst[u:], bb, radix)
}

// cryptBig runs the rounds on big.Int values.
func (f *FF1) cryptBig(st *ff1State, dst, x []uint16, decrypt bool) {
	u, v := st.u, st.v
	mu, mv := f.pow.big[u], f.pow.big[v]
	a, bb, y, tmp := new(big.Int), new(big.Int), new(big.Int), new(big.Int)
	f.pow.numBigBE(a, x[:u], tmp)
	f.pow.numBigBE(bb, x[u:], tmp)
	numBuf := st.rest[st.numAt:]
	for k := range ff1Rounds {
		i, in := k, bb
		if decrypt {
			i, in = ff1Rounds-1-k, a
		}
		in.FillBytes(numBuf)
		y.SetBytes(f.prf(st, i))
		m := mv
		if i%2 == 0 {
			m = mu
		}
		if !decrypt {
			y.Add(y, a) // c = (NUM(A) + y) mod radix^m
			y.Mod(y, m)
			a, bb, y = bb, y, a
		} else {
			y.Sub(bb, y) // c = (NUM(B) - y) mod radix^m; Mod is Euclidean, never negative
			y.Mod(y, m)
			a, bb, y = y, a, bb
		}
	}
	f.pow.strBigBE(dst[:u], a, tmp)
	f.pow.strBigBE(dst[u:], bb, tmp)
}
