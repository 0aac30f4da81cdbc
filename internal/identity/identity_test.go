package identity

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer"
)

// The RFC 6238 Appendix B seed for SHA-1, "12345678901234567890", base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// RFC 6238 Appendix B, SHA-1, 8 digits.
func TestRFC6238Vectors(t *testing.T) {
	for unix, want := range map[int64]string{59: "94287082", 1111111109: "07081804", 1111111111: "14050471",
		1234567890: "89005924", 2000000000: "69279037", 20000000000: "65353130"} {
		got, err := totp.GenerateCodeCustom(rfcSecret, time.Unix(unix, 0), totp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1})
		if err != nil || got != want {
			t.Errorf("T=%d: %s, want %s (%v)", unix, got, want, err)
		}
	}
}

func TestCheckTOTP(t *testing.T) {
	// The 6-digit codes are the last 6 digits of the 8-digit vectors.
	at := time.Unix(1111111111, 0) // step 37037037, code 050471
	step, ok := CheckTOTP(rfcSecret, "050471", at, 0)
	if !ok || step != Step(at) {
		t.Fatalf("valid code refused: %d %v", step, ok)
	}
	if _, ok := CheckTOTP(rfcSecret, "050471", at, step); ok {
		t.Fatal("a code was accepted twice (replay)")
	}
	if s, ok := CheckTOTP(rfcSecret, "050471", at.Add(30*time.Second), 0); !ok || s != step {
		t.Fatal("one step of clock skew refused")
	}
	if _, ok := CheckTOTP(rfcSecret, "050471", at.Add(95*time.Second), 0); ok {
		t.Fatal("a code three steps old accepted")
	}
	for _, bad := range []string{"", "05047", "0504711", "123456", "abcdef"} {
		if _, ok := CheckTOTP(rfcSecret, bad, at, 0); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
	secret, uri, err := NewTOTP("Coffer", "alice")
	if err != nil || !strings.HasPrefix(uri, "otpauth://totp/Coffer:alice?") || !strings.Contains(uri, "secret="+secret) {
		t.Fatalf("NewTOTP: %s %v", uri, err)
	}
	now := time.Now()
	code, _ := totp.GenerateCode(secret, now)
	if _, ok := CheckTOTP(secret, code, now, 0); !ok {
		t.Fatal("a fresh secret's current code refused")
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		pw, user string
		ok       bool
	}{
		{"correct horse battery staple", "alice", true},
		{"exactly12chr", "alice", true},
		{"ümlaut-päßwörter 🙂", "alice", true},
		{"short", "alice", false},
		{strings.Repeat("x", 11), "alice", false},
		{strings.Repeat("ab", 129), "alice", false},
		{"aaaaaaaaaaaaaaaa", "alice", false},
		{"password1234", "alice", false},   // on the list
		{"Qwertyuiop123!", "alice", false}, // list entry + suffix, case-folded
		{"ｐａｓｓｗｏｒｄ１２３４", "alice", false},   // full-width forms: NFKC folds them onto the list
		{"my name is alicewonder", "alicewonder", false},
		{"coffer-is-my-vault-2026", "bob", false},
		{"\xff\xfe invalid utf8 bytes", "bob", false},
	}
	for _, tt := range tests {
		err := CheckPassword(tt.pw, tt.user)
		if (err == nil) != tt.ok {
			t.Errorf("%q: err = %v, want ok=%v", tt.pw, err, tt.ok)
		}
		if err != nil {
			if coffer.ErrorCode(err) != coffer.EINVALID || strings.Contains(coffer.ErrorMessage(err), tt.pw) {
				t.Errorf("%q: bad error %v", tt.pw, err)
			}
		}
	}
	if n := BlocklistSize(); n < 10_000 {
		t.Fatalf("blocklist has %d entries, want at least 10,000", n)
	}
}

func TestHasher(t *testing.T) {
	h := NewHasher(1)
	ctx := context.Background()
	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil || !strings.HasPrefix(phc, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("Hash = %q, %v", phc, err)
	}
	if ok, err := h.Verify(ctx, "correct horse battery staple", phc); !ok || err != nil {
		t.Fatalf("Verify right password: %v %v", ok, err)
	}
	if ok, _ := h.Verify(ctx, "correct horse battery stapler", phc); ok {
		t.Fatal("Verify accepted a wrong password")
	}
	if phc2, _ := h.Hash(ctx, "correct horse battery staple"); phc2 == phc {
		t.Fatal("two hashes of one password are equal (no salt)")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", "$argon2id$v=19$m=1,t=3,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"} {
		if ok, err := h.Verify(ctx, "x", bad); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v", bad, ok, err)
		}
	}
	// The bound holds: with the one slot taken, a hash waits for its
	// context instead of running.
	h.sem <- struct{}{}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Hash(cctx, "another password here"); err != context.Canceled {
		t.Fatalf("Hash with the slot taken: %v, want context.Canceled", err)
	}
	<-h.sem
}

func BenchmarkHash(b *testing.B) {
	h := NewHasher(2)
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel: password checks from 16 concurrent logins, with
// the hasher's bound of 2; reports checks per second (the login ceiling).
func BenchmarkVerifyParallel(b *testing.B) {
	h := NewHasher(2)
	hash, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8) // × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := h.Verify(context.Background(), "correct horse battery staple", hash); err != nil || !ok {
				b.Error("verify failed")
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

func TestCheckTOTPFormat(t *testing.T) {
	for _, code := range []string{"000000", "123456", "999999"} {
		if err := CheckTOTPFormat(code); err != nil {
			t.Errorf("%q refused: %v", code, err)
		}
	}
	for _, code := range []string{"", "12345", "1234567", "12345a", " 12345", "１２３４５６", "12 456", "-12345"} {
		err := CheckTOTPFormat(code)
		if coffer.ErrorCode(err) != coffer.EINVALID || strings.Contains(coffer.ErrorMessage(err), code) && code != "" {
			t.Errorf("%q: %v", code, err)
		}
	}
}
