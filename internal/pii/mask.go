package pii

// Mask returns a sample of a value that never holds it whole: every letter
// and digit is replaced by '*' except the last quarter (4 at most),
// punctuation is kept so the shape shows, and the
// result is cut to 40 bytes. Bytes outside ASCII are masked too.
func Mask(v []byte) string {
	n := 0
	for _, c := range v {
		if isAlnum(c) || c >= 0x80 {
			n++
		}
	}
	keep := min(4, n/4) // a quarter at most: a surname or a domain stays hidden
	out := make([]byte, 0, min(len(v), 40))
	seen := 0
	for _, c := range v {
		switch {
		case isAlnum(c) || c >= 0x80:
			seen++
			if seen > n-keep && c < 0x80 {
				out = append(out, c)
			} else if c < 0x80 || c >= 0xC0 {
				out = append(out, '*')
			}
		case c < 0x20 || c == 0x7f:
			out = append(out, '?')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 40 {
		out = append(out[:37], "..."...)
	}
	return string(out)
}
