package sqlstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/cofferhq/coffer"
)

// encodeIndex packs index entries as uvarint(count) then, per entry,
// uvarint(len) field uvarint(len) hash.
func encodeIndex(index []coffer.IndexEntry) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 1+len(index)*32), uint64(len(index)))
	for _, ix := range index {
		b = binary.AppendUvarint(b, uint64(len(ix.Field)))
		b = append(b, ix.Field...)
		b = binary.AppendUvarint(b, uint64(len(ix.Hash)))
		b = append(b, ix.Hash...)
	}
	return b
}

// decodeIndex reverses encodeIndex.
func decodeIndex(b []byte) ([]coffer.IndexEntry, error) {
	d := decoder{b: b}
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	out := make([]coffer.IndexEntry, 0, n)
	for range n {
		f, err1 := d.bytes()
		h, err2 := d.bytes()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		out = append(out, coffer.IndexEntry{Field: string(f), Hash: h})
	}
	return out, d.end()
}

// encodeFields packs field name → ciphertext as uvarint(count) then, per
// field in name order, uvarint(len) name uvarint(len) ciphertext.
func encodeFields(m map[string][]byte) []byte {
	names := make([]string, 0, len(m))
	size := 1
	for k, v := range m {
		names = append(names, k)
		size += len(k) + len(v) + 4
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(m)))
	for _, k := range names {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(m[k])))
		b = append(b, m[k]...)
	}
	return b
}

// decodeFields reverses encodeFields.
func decodeFields(b []byte) (map[string][]byte, error) {
	d := decoder{b: b}
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	m := make(map[string][]byte, n)
	for range n {
		name, err1 := d.bytes()
		v, err2 := d.bytes()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		m[string(name)] = v
	}
	return m, d.end()
}

// errCorrupt reports bytes that are not in this layout.
var errCorrupt = errors.New("corrupt field encoding")

// decoder reads the length-prefixed encodings of encodeFields and
// encodeIndex without trusting any length it reads.
type decoder struct{ b []byte }

func (d *decoder) count() (uint64, error) {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)) {
		return 0, errCorrupt
	}
	d.b = d.b[k:]
	return n, nil
}

func (d *decoder) bytes() ([]byte, error) {
	l, k := binary.Uvarint(d.b)
	if k <= 0 || l > uint64(len(d.b)-k) {
		return nil, errCorrupt
	}
	v := d.b[k : k+int(l) : k+int(l)]
	d.b = d.b[k+int(l):]
	return v, nil
}

func (d *decoder) end() error {
	if len(d.b) != 0 {
		return errCorrupt
	}
	return nil
}

// nanos stores a time as Unix nanoseconds, the zero time as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos reverses nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func nanosPtr(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return nanos(*t)
}

func timePtr(n int64) *time.Time {
	if n == 0 {
		return nil
	}
	t := fromNanos(n)
	return &t
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// encodeConsents stores a subject's current consents as a JSON object.
func encodeConsents(m map[string]bool) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}
