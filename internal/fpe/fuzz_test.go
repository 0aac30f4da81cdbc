package fpe

import (
	"errors"
	"slices"
	"testing"
)

// FuzzRoundTrip: for any key, radix, tweak and input that the ciphers accept,
// decrypt(encrypt(x)) == x; anything they refuse is refused with one of the
// package's errors, never a panic.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), uint16(10), []byte{}, []byte("4111111111111111"), false)
	f.Add([]byte("0123456789abcdef01234567"), uint16(36), []byte("tweak"), []byte("abcdefghijklmnopqrstuvwxyz0123456789"), true)
	f.Add([]byte("0123456789abcdef0123456789abcdef"), uint16(0), []byte("1234567"), []byte("\xff\xfe\x00\x01\x02\x03\x04\x05\x06\x07"), true)
	f.Add([]byte("short"), uint16(2), []byte("x"), []byte("0101"), false)
	f.Fuzz(func(t *testing.T, key []byte, r uint16, tweak, data []byte, ff31 bool) {
		radix := int(r) + 1 // 1..65536: radix 1 is refused
		var c Cipher
		var err error
		if ff31 {
			c, err = NewFF31(key, radix)
		} else {
			c, err = NewFF1(key, radix)
		}
		if err != nil {
			if !errors.Is(err, ErrKey) && !errors.Is(err, ErrRadix) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// Two bytes a numeral, reduced into the radix.
		x := make([]uint16, len(data)/2)
		for i := range x {
			x[i] = uint16((int(data[2*i])<<8 | int(data[2*i+1])) % radix)
		}
		y, err := c.Encrypt(tweak, x)
		if err != nil {
			if !errors.Is(err, ErrDomainTooSmall) && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrTweak) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		z, err := c.Decrypt(tweak, y)
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if !slices.Equal(z, x) {
			t.Fatalf("Decrypt(Encrypt(x)) = %v, want %v", z, x)
		}
	})
}
