package keyring

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testArgon2 keeps unit tests fast; TestDefaultArgon2Time measures the
// default once.
func testArgon2() *Argon2Params {
	p := DefaultArgon2()
	p.Time, p.MemoryKiB, p.Threads = 1, minArgon2Memory, 1
	return &p
}

func TestEnvelopeFileRoundTrip(t *testing.T) {
	r := NewRoot()
	e, err := (&Passphrase{Pass: []byte("correct horse"), Params: testArgon2()}).Wrap(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "root.json")
	if err := WriteEnvelope(path, e, true); err != nil {
		t.Fatal(err)
	}
	if err := WriteEnvelope(path, e, true); err == nil {
		t.Fatal("create replaced an existing envelope")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	got, err := ReadEnvelope(path)
	if err != nil {
		t.Fatal(err)
	}
	back, err := (&Passphrase{Pass: []byte("correct horse")}).Unwrap(got)
	if err != nil || !back.Equal(r) {
		t.Fatalf("round trip: %v", err)
	}
	os.Chmod(path, 0o640)
	if _, err := ReadEnvelope(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("read a group-readable envelope: %v", err)
	}
}

// Every public parameter is bound to the wrapped root: editing one makes
// the envelope fail to open even with the right secret.
func TestEnvelopeEditsDoNotOpen(t *testing.T) {
	r := NewRoot()
	pass := []byte("pw")
	e, _ := (&Passphrase{Pass: pass, Params: testArgon2()}).Wrap(r)
	edits := map[string]func(e *Envelope){
		"id":      func(e *Envelope) { e.ID = "0000000000000000" },
		"time":    func(e *Envelope) { e.Argon2id.Time++ },
		"salt":    func(e *Envelope) { e.Argon2id.Salt[0] ^= 1 },
		"nonce":   func(e *Envelope) { e.Nonce[0] ^= 1 },
		"wrapped": func(e *Envelope) { e.Wrapped[5] ^= 1 },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			b, _ := json.Marshal(e)
			c, err := ParseEnvelope(b)
			if err != nil {
				t.Fatal(err)
			}
			edit(c)
			if _, err := (&Passphrase{Pass: pass}).Unwrap(c); !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("edited envelope: %v", err)
			}
		})
	}
}

func TestParseEnvelopeRefuses(t *testing.T) {
	e, _ := (&Passphrase{Pass: []byte("pw"), Params: testArgon2()}).Wrap(NewRoot())
	good, _ := json.Marshal(e)
	if _, err := ParseEnvelope(good); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(e *Envelope){
		"format":        func(e *Envelope) { e.Format = "x" },
		"provider":      func(e *Envelope) { e.Provider = "shamir" },
		"two providers": func(e *Envelope) { e.Shamir = &ShamirParams{2, 3} },
		"short id":      func(e *Envelope) { e.ID = "ab" },
		"version 0":     func(e *Envelope) { e.Current = 0 },
		"huge memory":   func(e *Envelope) { e.Argon2id.MemoryKiB = 1 << 31 },
		"many passes":   func(e *Envelope) { e.Argon2id.Time = 1000 },
		"short salt":    func(e *Envelope) { e.Argon2id.Salt = e.Argon2id.Salt[:4] },
		"short wrapped": func(e *Envelope) { e.Wrapped = e.Wrapped[:16] },
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := ParseEnvelope(good)
			edit(c)
			b, _ := json.Marshal(c)
			if _, err := ParseEnvelope(b); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func FuzzParseEnvelope(f *testing.F) {
	e, _ := (&Passphrase{Pass: []byte("pw"), Params: testArgon2()}).Wrap(NewRoot())
	b, _ := json.Marshal(e)
	f.Add(b)
	s, _, _ := Split(NewRoot(), 2, 3)
	b, _ = json.Marshal(s)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b) // never panics
		if err != nil {
			return
		}
		if len(e.Wrapped) != 48 || len(e.Nonce) != 12 {
			t.Fatal("accepted a wrapped root of the wrong size")
		}
		if e.Argon2id != nil && (e.Argon2id.MemoryKiB > maxArgon2Memory || e.Argon2id.Time > maxArgon2Time) {
			t.Fatal("accepted unbounded argon2id parameters")
		}
	})
}
