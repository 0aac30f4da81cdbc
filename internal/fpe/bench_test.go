package fpe

import (
	"bytes"
	"testing"
)

// A 16-digit card number, the case the token vault cares about.
var (
	benchKey   = bytes.Repeat([]byte{0x5a}, 32)
	benchCard  = []uint16{4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	benchTweak = []byte("coffer/c")[:7]
)

func benchCipher(b *testing.B, c Cipher, x []uint16) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encrypt(benchTweak, x); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFF1Card(b *testing.B) {
	c, _ := NewFF1(benchKey, 10)
	benchCipher(b, c, benchCard)
}

func BenchmarkFF31Card(b *testing.B) {
	c, _ := NewFF31(benchKey, 10)
	benchCipher(b, c, benchCard)
}

func BenchmarkFF1CardDecrypt(b *testing.B) {
	c, _ := NewFF1(benchKey, 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decrypt(benchTweak, benchCard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFF1CardString(b *testing.B) {
	c, _ := NewFF1(benchKey, 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EncryptString(benchTweak, "4111111111111111", Digits); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFF31CardString(b *testing.B) {
	c, _ := NewFF31(benchKey, 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EncryptString(benchTweak, "4111111111111111", Digits); err != nil {
			b.Fatal(err)
		}
	}
}

// 56 digits: FF3-1's maximum for radix 10, and past the uint64 path for both.
func BenchmarkFF1Digits56(b *testing.B) {
	c, _ := NewFF1(benchKey, 10)
	benchCipher(b, c, make([]uint16, 56))
}

func BenchmarkFF31Digits56(b *testing.B) {
	c, _ := NewFF31(benchKey, 10)
	benchCipher(b, c, make([]uint16, 56))
}

// The worst case FF1 accepts: FF1MaxLen numerals in radix 65536.
func BenchmarkFF1MaxLenRadix65536(b *testing.B) {
	c, _ := NewFF1(benchKey, 65536)
	benchCipher(b, c, make([]uint16, FF1MaxLen))
}
