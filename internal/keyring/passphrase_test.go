package keyring

import (
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

func TestPassphrase(t *testing.T) {
	r := NewRoot()
	e, err := (&Passphrase{Pass: []byte("correct horse battery staple"), Params: testArgon2()}).Wrap(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&Passphrase{Pass: []byte("correct horse battery staple")}).Unwrap(e)
	if err != nil || !got.Equal(r) {
		t.Fatalf("unwrap: %v", err)
	}
	for _, wrong := range []string{"correct horse battery stapl", "Correct horse battery staple", ""} {
		_, err := (&Passphrase{Pass: []byte(wrong)}).Unwrap(e)
		if !errors.Is(err, ErrWrongPassphrase) || coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
			t.Fatalf("wrong passphrase %q: %v", wrong, err)
		}
	}
	if _, err := (&Passphrase{Params: testArgon2()}).Wrap(r); err == nil {
		t.Fatal("wrapped under an empty passphrase")
	}
	e2, _ := (&Passphrase{Pass: []byte("correct horse battery staple"), Params: testArgon2()}).Wrap(r)
	if string(e2.Wrapped) == string(e.Wrapped) || string(e2.Argon2id.Salt) == string(e.Argon2id.Salt) {
		t.Fatal("two wraps share a salt or ciphertext")
	}
}

// TestDefaultArgon2Time runs the default parameters once and logs how long
// an unseal takes (go test -run DefaultArgon2 -v).
func TestDefaultArgon2Time(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full 64 MiB argon2id")
	}
	r := NewRoot()
	e, err := (&Passphrase{Pass: []byte("pw")}).Wrap(r)
	if err != nil {
		t.Fatal(err)
	}
	if p := e.Argon2id; p.Time != 3 || p.MemoryKiB != 64*1024 || p.Threads != 2 {
		t.Fatalf("default parameters changed: %+v", *p)
	}
	start := time.Now()
	got, err := (&Passphrase{Pass: []byte("pw")}).Unwrap(e)
	t.Logf("argon2id t=3 m=64MiB p=2 unwrap: %v", time.Since(start))
	if err != nil || !got.Equal(r) {
		t.Fatal(err)
	}
}
