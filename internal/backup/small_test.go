package backup

import (
	"bytes"
	"errors"
	"testing"

	"filippo.io/age"
)

// TestSmallBackupTampered: a backup smaller than one age chunk (64 KiB)
// decrypts in one piece, so a flipped byte or a truncation fails at the
// header read: that is wrong content (ErrCorrupt), while a genuine short
// plaintext is not a backup at all (ErrUnreadable).
func TestSmallBackupTampered(t *testing.T) {
	f := newFixture(t, 1)
	good := write(t, f, f.id.Recipient())
	if len(good) > 60<<10 {
		t.Fatalf("the fixture is %d bytes, not one chunk", len(good))
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-20] ^= 1
	for name, b := range map[string][]byte{"flipped": flipped, "truncated": good[:len(good)-10]} {
		if _, err := NewReader(bytes.NewReader(b), f.verify, f.id); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	var short bytes.Buffer
	w, err := age.Encrypt(&short, f.id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hi"))
	w.Close()
	if _, err := NewReader(&short, f.verify, f.id); !errors.Is(err, ErrUnreadable) {
		t.Errorf("a short age file: %v, want ErrUnreadable", err)
	}
}
