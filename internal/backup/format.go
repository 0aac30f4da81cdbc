package backup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

const (
	magic = "COFFER-BACKUP\n"
	// Format is the payload format this build writes and the newest it
	// reads. Format 2 added the page image (kinds 'I' and 'D'); format 1
	// holds table and row frames only.
	Format = 2
	// maxFrame bounds one frame (a row holding a large JSON value is the
	// largest), so a corrupt length cannot make a reader allocate at will.
	maxFrame = 64 << 20
)

const (
	kindTable     = 'T'
	kindRow       = 'R'
	kindManifest  = 'M'
	kindSignature = 'S'
	kindImage     = 'I' // page size, page count: a database image follows
	kindData      = 'D' // the next bytes of the image
)

// Value tags.
const (
	tagNull = iota
	tagInt
	tagBytes
	tagString
	tagBool
	tagFloat
	tagTime
)

// ErrUnreadable marks a file that cannot be read as a backup at all: a
// wrong identity, not a backup, a newer format (exit 2).
var ErrUnreadable = errors.New("backup unreadable")

// ErrCorrupt marks a backup whose content is wrong: a flipped byte, a
// truncation, a bad signature, counts or hash that do not match (exit 1).
var ErrCorrupt = errors.New("backup content is wrong")

func unreadable(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnreadable, fmt.Sprintf(format, a...))
}

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

// appendValue encodes one column value. Stores hand over what their driver
// returns: nil, integers, byte slices, strings, booleans, floats, times.
func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, tagNull), nil
	case int64:
		return binary.AppendVarint(append(b, tagInt), x), nil
	case int:
		return binary.AppendVarint(append(b, tagInt), int64(x)), nil
	case int32:
		return binary.AppendVarint(append(b, tagInt), int64(x)), nil
	case []byte:
		b = binary.AppendUvarint(append(b, tagBytes), uint64(len(x)))
		return append(b, x...), nil
	case string:
		b = binary.AppendUvarint(append(b, tagString), uint64(len(x)))
		return append(b, x...), nil
	case bool:
		if x {
			return append(b, tagBool, 1), nil
		}
		return append(b, tagBool, 0), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, tagFloat), math.Float64bits(x)), nil
	case time.Time:
		return binary.AppendVarint(append(b, tagTime), x.UnixNano()), nil
	}
	return nil, fmt.Errorf("backup: cannot encode a %T", v)
}

// decodeValues decodes a row frame.
func decodeValues(b []byte, n int) ([]any, error) {
	out := make([]any, 0, n)
	for len(b) > 0 {
		tag := b[0]
		b = b[1:]
		switch tag {
		case tagNull:
			out = append(out, nil)
		case tagInt, tagTime:
			x, k := binary.Varint(b)
			if k <= 0 {
				return nil, corrupt("bad integer")
			}
			b = b[k:]
			if tag == tagTime {
				out = append(out, time.Unix(0, x).UTC())
			} else {
				out = append(out, x)
			}
		case tagBytes, tagString:
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return nil, corrupt("bad length")
			}
			s := b[k : k+int(l)]
			b = b[k+int(l):]
			if tag == tagString {
				out = append(out, string(s))
			} else {
				out = append(out, append([]byte{}, s...))
			}
		case tagBool:
			if len(b) < 1 {
				return nil, corrupt("bad boolean")
			}
			out = append(out, b[0] == 1)
			b = b[1:]
		case tagFloat:
			if len(b) < 8 {
				return nil, corrupt("bad float")
			}
			out = append(out, math.Float64frombits(binary.BigEndian.Uint64(b)))
			b = b[8:]
		default:
			return nil, corrupt("unknown value tag %d", tag)
		}
	}
	if len(out) != n {
		return nil, corrupt("row has %d values, table has %d columns", len(out), n)
	}
	return out, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	l, k := binary.Uvarint(b)
	if k <= 0 || l > uint64(len(b)-k) {
		return "", nil, corrupt("bad string")
	}
	return string(b[k : k+int(l)]), b[k+int(l):], nil
}
