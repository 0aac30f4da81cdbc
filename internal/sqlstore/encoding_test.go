package sqlstore

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhq/coffer"
)

func TestRoundTrip(t *testing.T) {
	fields := map[string][]byte{"email": {1, 2, 3}, "name": {}, "phone": bytes.Repeat([]byte{9}, 300)}
	got, err := decodeFields(encodeFields(fields))
	if err != nil || !cmp.Equal(fields, got) {
		t.Fatalf("fields: %v %v", got, err)
	}
	index := []coffer.IndexEntry{{Field: "email", Hash: bytes.Repeat([]byte{7}, 16)}, {Field: "phone", Hash: []byte{1}}}
	gi, err := decodeIndex(encodeIndex(index))
	if err != nil || !cmp.Equal(index, gi) {
		t.Fatalf("index: %v %v", gi, err)
	}
	enc := encodeFields(fields)
	for n := range len(enc) {
		if _, err := decodeFields(enc[:n]); err == nil {
			t.Fatalf("truncated to %d bytes and decoded", n)
		}
	}
	if _, err := decodeFields(append(enc, 0)); err == nil {
		t.Fatal("trailing bytes accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeFields(map[string][]byte{"a": {1}}))
	f.Add(encodeIndex([]coffer.IndexEntry{{Field: "a", Hash: []byte{1}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeFields(b); err == nil && !bytes.Equal(encodeFields(m), b) && len(m) > 0 {
			// Field order is canonical (sorted); a decodable input in
			// another order re-encodes differently but must decode equal.
			if m2, err := decodeFields(encodeFields(m)); err != nil || !cmp.Equal(m, m2) {
				t.Fatalf("re-encoding changed the fields: %v", err)
			}
		}
		if ix, err := decodeIndex(b); err == nil {
			if ix2, err := decodeIndex(encodeIndex(ix)); err != nil || !cmp.Equal(ix, ix2) {
				t.Fatalf("re-encoding changed the index: %v", err)
			}
		}
	})
}
