package backup

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// image is a fake database image of 20 pages of 512 bytes, written in
// chunks of three pages (the last one short).
func writeImage(t *testing.T, f fixture, img []byte, info ImageInfo, counts map[string]int64) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, f.id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Image(info.PageSize, info.Pages, counts); err != nil {
		t.Fatal(err)
	}
	for b := img; len(b) > 0; {
		n := min(len(b), 3*info.PageSize)
		if err := w.Data(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if _, err := w.Finish(Manifest{Created: time.Unix(1700000000, 0).UTC(), Store: "sqlite", AuditSeq: 7}, f.signer.Current()); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func readImage(f fixture, b []byte) ([]byte, *Manifest, error) {
	r, err := NewReader(bytes.NewReader(b), f.verify, f.id)
	if err != nil {
		return nil, nil, err
	}
	it, err := r.Next()
	if err != nil {
		return nil, nil, err
	}
	if it.Image == nil {
		return nil, nil, errors.New("not an image")
	}
	var got bytes.Buffer
	if err := r.CopyImage(&got); err != nil {
		return nil, nil, err
	}
	m, ok := r.Manifest()
	if !ok {
		return nil, nil, errors.New("no manifest after the image")
	}
	return got.Bytes(), &m, nil
}

func testImage(t *testing.T) ([]byte, ImageInfo) {
	info := ImageInfo{PageSize: 512, Pages: 20}
	img := make([]byte, info.Bytes())
	rand.Read(img)
	copy(img[100:], canary)
	return img, info
}

func TestImageRoundTrip(t *testing.T) {
	f := newFixture(t, 1)
	img, info := testImage(t)
	counts := map[string]int64{"subjects": 3, "audit": 9}
	b := writeImage(t, f, img, info, counts)
	if bytes.Contains(b, []byte(canary)) {
		t.Fatal("the backup file holds the image's plaintext")
	}
	got, m, err := readImage(f, b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, img) {
		t.Fatal("the image read back differs")
	}
	if m.Image == nil || *m.Image != info || m.Format != 2 || m.Tables["audit"] != 9 {
		t.Fatalf("manifest %+v", m)
	}
	if err := CheckCounts(*m, counts); err != nil {
		t.Fatal(err)
	}
	if err := CheckCounts(*m, map[string]int64{"subjects": 3, "audit": 8}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a count that differs: %v", err)
	}
	if err := CheckCounts(*m, map[string]int64{"subjects": 3, "audit": 9, "extra": 0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a table the manifest does not list: %v", err)
	}
}

func TestImageFlippedOrTruncated(t *testing.T) {
	f := newFixture(t, 1)
	img, info := testImage(t)
	b := writeImage(t, f, img, info, map[string]int64{"a": 1})
	for i := range b {
		mut := bytes.Clone(b)
		mut[i] ^= 0x08
		if _, _, err := readImage(f, mut); err == nil {
			t.Fatalf("flipping byte %d of %d went unnoticed", i, len(b))
		}
	}
	for n := 0; n < len(b); n += 7 {
		if _, _, err := readImage(f, b[:n]); err == nil {
			t.Fatalf("truncation to %d of %d bytes went unnoticed", n, len(b))
		}
	}
}

// A writer refuses an image that is not whole, or mixed with tables.
func TestImageWriterRefuses(t *testing.T) {
	f := newFixture(t, 1)
	img, info := testImage(t)
	w, _ := NewWriter(io.Discard, f.id.Recipient())
	w.Image(info.PageSize, info.Pages, nil)
	w.Data(img[:len(img)-1])
	if _, err := w.Finish(Manifest{}, f.signer.Current()); err == nil {
		t.Error("an image one byte short was finished")
	}
	w, _ = NewWriter(io.Discard, f.id.Recipient())
	w.Image(info.PageSize, info.Pages, nil)
	if err := w.Data(append(bytes.Clone(img), 0)); err == nil {
		t.Error("an image one byte long was written")
	}
	if err := w.Table("subjects", "id"); err == nil {
		t.Error("a table after an image was written")
	}
	w, _ = NewWriter(io.Discard, f.id.Recipient())
	w.Table("subjects", "id")
	if err := w.Image(info.PageSize, info.Pages, nil); err == nil {
		t.Error("an image after a table was written")
	}
	for _, bad := range []ImageInfo{{PageSize: 1000, Pages: 1}, {PageSize: 256, Pages: 1}, {PageSize: 4096}} {
		w, _ = NewWriter(io.Discard, f.id.Recipient())
		if err := w.Image(bad.PageSize, bad.Pages, nil); err == nil {
			t.Errorf("image %+v accepted", bad)
		}
	}
}

// A well-signed payload whose frames are out of place is wrong content:
// an image frame in a format 1 payload, image data beyond the image, a
// table inside an image backup.
func TestImageFramesOutOfPlace(t *testing.T) {
	f := newFixture(t, 1)
	frame := func(kind byte, p []byte) []byte {
		return append(binary.AppendUvarint([]byte{kind}, uint64(len(p))), p...)
	}
	hdr := func(ps, pages uint64) []byte {
		return frame(kindImage, binary.AppendUvarint(binary.AppendUvarint(nil, ps), pages))
	}
	cases := map[string][]byte{
		"image in format 1":    append(binary.AppendUvarint([]byte(magic), 1), hdr(512, 1)...),
		"data beyond":          append(append(binary.AppendUvarint([]byte(magic), 2), hdr(512, 1)...), frame(kindData, make([]byte, 513))...),
		"table in image":       append(append(binary.AppendUvarint([]byte(magic), 2), hdr(512, 1)...), frame(kindTable, appendString([]byte{}, "t"))...),
		"data before image":    append(binary.AppendUvarint([]byte(magic), 2), frame(kindData, make([]byte, 512))...),
		"page size not 2^n":    append(binary.AppendUvarint([]byte(magic), 2), hdr(1000, 1)...),
		"a second image frame": append(append(binary.AppendUvarint([]byte(magic), 2), hdr(512, 1)...), hdr(512, 1)...),
	}
	for name, payload := range cases {
		var out bytes.Buffer
		enc, _ := age.Encrypt(&out, f.id.Recipient())
		enc.Write(payload)
		enc.Close()
		r, err := NewReader(&out, f.verify, f.id)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var last error
		for range 4 {
			if _, last = r.Next(); last != nil {
				break
			}
		}
		if !errors.Is(last, ErrCorrupt) || strings.Contains(last.Error(), "truncated") {
			t.Errorf("%s: %v, want a corrupt frame (not a truncation)", name, last)
		}
	}
}
