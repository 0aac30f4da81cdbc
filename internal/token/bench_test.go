package token

import (
	"bytes"
	"testing"
)

func BenchmarkRandom(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Random()
	}
}

func BenchmarkCardToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CardToken("4111111111111111", 6, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeterministicCardToken(b *testing.B) {
	key := bytes.Repeat([]byte{3}, KeyLen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DeterministicCardToken("4111111111111111", 6, key, "payments"); err != nil {
			b.Fatal(err)
		}
	}
}
