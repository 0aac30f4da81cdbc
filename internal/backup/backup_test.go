package backup

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/google/go-cmp/cmp"
)

const canary = "canary-plaintext-7f3e@example.com"

type fixture struct {
	id     *age.X25519Identity
	signer *audit.Signer
}

func newFixture(t *testing.T, seed byte) fixture {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewSigner(coffer.NewSecret(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{id: id, signer: s}
}

func (f fixture) verify(version uint32, doc, sig []byte) bool {
	return version == f.signer.Version() && audit.VerifyManifest(f.signer.PublicKey(), doc, sig)
}

var rows = [][]any{
	{"cus_1", []byte{1, 2, 3}, int64(7), nil, true, time.Unix(1700000000, 5).UTC(), 1.5},
	{"cus_2", []byte(canary), int64(-1), "x", false, time.Unix(0, 0).UTC(), 0.0},
}

func write(t *testing.T, f fixture, rcpt age.Recipient) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Table("subjects", "id", "dek", "n", "note", "flag", "at", "score"); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Row(r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Table("empty", "a"); err != nil {
		t.Fatal(err)
	}
	m, err := w.Finish(Manifest{Created: time.Unix(1700000000, 0).UTC(), CofferVersion: "test", Store: "sqlite", AuditSeq: 42, AuditHash: []byte{9}}, f.signer.Current())
	if err != nil {
		t.Fatal(err)
	}
	if m.Tables["subjects"] != 2 || m.Tables["empty"] != 0 {
		t.Fatalf("manifest counts %v", m.Tables)
	}
	return out.Bytes()
}

// readAll reads a whole backup and returns its rows, or the error.
func readAll(f fixture, b []byte, ids ...age.Identity) ([][]any, *Manifest, error) {
	if len(ids) == 0 {
		ids = []age.Identity{f.id}
	}
	r, err := NewReader(bytes.NewReader(b), f.verify, ids...)
	if err != nil {
		return nil, nil, err
	}
	var got [][]any
	for {
		it, err := r.Next()
		if err == io.EOF {
			m, _ := r.Manifest()
			return got, &m, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if it.Row != nil {
			got = append(got, it.Row)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t, 1)
	b := write(t, f, f.id.Recipient())
	if bytes.Contains(b, []byte(canary)) {
		t.Fatal("the backup file holds a plaintext value")
	}
	got, m, err := readAll(f, b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rows, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if m.AuditSeq != 42 || m.Store != "sqlite" || m.Format != Format {
		t.Errorf("manifest %+v", m)
	}
}

// Every single flipped byte, anywhere in the file, is caught.
func TestFlippedByteAnywhere(t *testing.T) {
	f := newFixture(t, 1)
	b := write(t, f, f.id.Recipient())
	for i := range b {
		mut := bytes.Clone(b)
		mut[i] ^= 0x40
		if _, _, err := readAll(f, mut); err == nil {
			t.Fatalf("flipping byte %d of %d went unnoticed", i, len(b))
		}
	}
}

func TestTruncationAnywhere(t *testing.T) {
	f := newFixture(t, 1)
	b := write(t, f, f.id.Recipient())
	for n := range len(b) {
		if _, _, err := readAll(f, b[:n]); err == nil {
			t.Fatalf("truncation to %d of %d bytes went unnoticed", n, len(b))
		}
	}
}

// Someone who holds only the public recipient can encrypt a backup of
// their own, but cannot sign its manifest with the vault's audit key.
func TestForgedByRecipientHolder(t *testing.T) {
	f := newFixture(t, 1)
	attacker := newFixture(t, 2)
	forged := write(t, attacker, f.id.Recipient()) // encrypted to the victim's recipient
	_, _, err := readAll(f, forged)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("forged backup: err = %v, want a signature failure (ErrCorrupt)", err)
	}
}

func TestUnreadable(t *testing.T) {
	f := newFixture(t, 1)
	b := write(t, f, f.id.Recipient())
	other := newFixture(t, 1)
	if _, _, err := readAll(f, b, other.id); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "identity") {
		t.Errorf("wrong identity: %v", err)
	}
	if _, _, err := readAll(f, []byte("hello, not a backup")); !errors.Is(err, ErrUnreadable) {
		t.Errorf("not a backup: %v", err)
	}
	// A newer format: a valid age file whose payload says format 99.
	var out bytes.Buffer
	enc, _ := age.Encrypt(&out, f.id.Recipient())
	enc.Write([]byte(magic + "\x63"))
	enc.Close()
	if _, _, err := readAll(f, out.Bytes()); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer format: %v", err)
	}
}

func TestManifestSignatureDomain(t *testing.T) {
	f := newFixture(t, 1)
	doc := []byte(`{"format":1}`)
	sig := f.signer.Current().SignManifest(doc)
	if !audit.VerifyManifest(f.signer.PublicKey(), doc, sig) {
		t.Fatal("own signature does not verify")
	}
	// A raw Ed25519 signature over the same bytes (another use of the key)
	// is not a manifest signature.
	if audit.VerifyManifest(f.signer.PublicKey(), doc, ed25519.Sign(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)), doc)) {
		t.Fatal("a signature without the manifest domain verified")
	}
}
