package pii

// Characters of an e-mail address's local part (RFC 5322 dot-atom, the
// common subset) and of its domain.
func isLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomain(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// File extensions that look like top-level domains after an '@'
// ("icon@2x.png") and are not.
var notTLD = map[string]bool{"png": true, "jpg": true, "jpeg": true, "gif": true, "svg": true, "webp": true,
	"css": true, "js": true, "ico": true, "bmp": true, "tif": true, "tiff": true, "pdf": true, "txt": true,
	"json": true, "yaml": true, "yml": true, "go": true, "py": true, "rb": true, "ts": true}

// email handles the '@' at i.
func (s *Scanner) email(t []byte, at int, emit func(Match)) int {
	if !s.entities.Has(Email) {
		return at + 1
	}
	start, end, ok := emailAt(t, at)
	if !ok {
		return at + 1
	}
	emit(Match{Entity: Email, Start: start, End: end, Confidence: 0.95})
	return end
}

// emailAt reads the address around the '@' at index at.
func emailAt(t []byte, at int) (start, end int, ok bool) {
	start = at
	for start > 0 && at-start < 64 && isLocal(t[start-1]) {
		start--
	}
	// The address is not glued to a longer token, and its local part
	// neither starts nor ends with a dot.
	if start > 0 && (isLocal(t[start-1]) || t[start-1] == '@') {
		return 0, 0, false
	}
	for start < at && (t[start] == '.' || t[start] == '-' || t[start] == '+') {
		start++
	}
	if start == at || t[at-1] == '.' {
		return 0, 0, false
	}
	for j := start + 1; j < at; j++ {
		if t[j] == '.' && t[j-1] == '.' {
			return 0, 0, false
		}
	}
	end = at + 1
	for end < len(t) && end-at <= 253 && isDomain(t[end]) {
		end++
	}
	// A sentence may end right after the address.
	for end > at+1 && (t[end-1] == '.' || t[end-1] == '-') {
		end--
	}
	if end-at > 253 || (end < len(t) && (isAlnum(t[end]) || t[end] == '@')) {
		return 0, 0, false
	}
	dom := t[at+1 : end]
	labels, lastDot := 0, -1
	labelStart := 0
	for j := 0; j <= len(dom); j++ {
		if j == len(dom) || dom[j] == '.' {
			l := dom[labelStart:j]
			if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
				return 0, 0, false
			}
			labels++
			if j < len(dom) {
				lastDot = j
			}
			labelStart = j + 1
		}
	}
	if labels < 2 {
		return 0, 0, false
	}
	tld := dom[lastDot+1:]
	if len(tld) < 2 || len(tld) > 24 {
		return 0, 0, false
	}
	for _, c := range tld {
		if !isAlpha(c) {
			return 0, 0, false
		}
	}
	var low [24]byte
	for j, c := range tld {
		low[j] = c | 0x20
	}
	if notTLD[string(low[:len(tld)])] {
		return 0, 0, false
	}
	return start, end, true
}
