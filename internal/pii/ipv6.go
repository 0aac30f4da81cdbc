package pii

import "net/netip"

func isHex(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

// ipv6 handles the ':' at i.
func (s *Scanner) ipv6(t []byte, i int, emit func(Match)) int {
	if !s.entities.Has(IPv6) {
		return i + 1
	}
	start, end, conf := ipv6At(t, i)
	if conf == 0 {
		return i + 1
	}
	emit(Match{Entity: IPv6, Start: start, End: end, Confidence: conf})
	return end
}

// ipv6At reads the IPv6 address around the ':' at i. It returns a zero
// confidence when there is none.
func ipv6At(t []byte, i int) (start, end int, conf float64) {
	start = i
	for start > 0 && i-start < 45 && (isHex(t[start-1]) || t[start-1] == ':' || t[start-1] == '.') {
		start--
	}
	end = i
	for end < len(t) && end-start < 45 && (isHex(t[end]) || t[end] == ':' || t[end] == '.') {
		end++
	}
	// A sentence's full stop or a "host:port" colon is not part of it.
	for end > i+1 && (t[end-1] == '.' || (t[end-1] == ':' && t[end-2] != ':')) {
		end--
	}
	for start < i && t[start] == '.' {
		start++
	}
	if (start > 0 && (isWord(t[start-1]) || t[start-1] == ':' || t[start-1] == '.')) ||
		(end < len(t) && (isWord(t[end]) || t[end] == ':')) {
		return 0, 0, 0
	}
	b := t[start:end]
	colons, double, groups, firstLen := 0, false, 0, 0
	for j, c := range b {
		if c == ':' {
			colons++
			if j > 0 && b[j-1] == ':' {
				double = true
			}
		} else if j == 0 || b[j-1] == ':' {
			groups++
		}
		if groups == 1 && c != ':' {
			firstLen++
		}
	}
	// "a::b" in code is a valid address in form only: a compressed address
	// needs three groups, or two with a full first one ("fe80::1").
	if groups < 2 || (groups == 2 && firstLen < 3) {
		return 0, 0, 0
	}
	// Without "::" an address has 7 colons (6 before a dotted IPv4 tail);
	// this rejects times (10:22:33) and MAC addresses before parsing.
	if colons < 2 || (!double && colons < 6) || len(b) < 3 {
		return 0, 0, 0
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil || !a.Is6() || a.Zone() != "" {
		return 0, 0, 0
	}
	switch {
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast():
		return 0, 0, 0
	case a.IsLinkLocalUnicast(), a.IsPrivate():
		return start, end, 0.6
	case a.Is4In6():
		return start, end, 0.8
	}
	return start, end, 0.9
}
