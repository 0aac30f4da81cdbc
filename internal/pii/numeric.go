package pii

import (
	"github.com/nyaruka/phonenumbers"
)

// numTok is a run of digit groups joined by single separators, as written
// for phone and card numbers, dates, SSNs and IPv4 addresses.
type numTok struct {
	start, end int
	nd         int      // digits, counted past the 20 kept
	digits     [20]byte // the first 20 digits
	ng         int      // groups, counted past the 8 kept
	groups     [8]uint8 // digits per group
	seps       [8]byte  // separator before group k (seps[0] unused)
	plus       bool     // starts with '+'
	paren      bool     // has a parenthesised group
	space      bool     // has a space separator
	long       bool     // longer than any value
}

const maxTok = 48 // longer runs are not one value

// sameSeps reports whether every separator is c.
func (k *numTok) sameSeps(c byte) bool {
	for g := 1; g < min(k.ng, len(k.seps)); g++ {
		if k.seps[g] != c {
			return false
		}
	}
	return true
}

func (k *numTok) shape(gs ...uint8) bool {
	if k.ng != len(gs) {
		return false
	}
	for g, n := range gs {
		if k.groups[g] != n {
			return false
		}
	}
	return true
}

// readNumber reads the number that starts at i (a digit, '+' or '(').
// With spaces false, a space ends the number.
func readNumber(t []byte, i int, spaces bool) numTok {
	k := numTok{start: i}
	n := len(t)
	j := i
	if t[j] == '+' {
		k.plus = true
		j++
	}
	if j < n && t[j] == '(' {
		k.paren = true
		j++
	}
	for {
		g := 0
		for j < n && isDigit(t[j]) {
			if k.nd < len(k.digits) {
				k.digits[k.nd] = t[j]
			}
			k.nd++
			g++
			j++
		}
		if k.ng < len(k.groups) {
			k.groups[k.ng] = uint8(min(g, 255))
		}
		k.ng++
		k.end = j
		if j-i > maxTok {
			k.long = true
		}
		if j+1 >= n {
			break
		}
		c := t[j]
		sep := j
		switch {
		case c == ')' && k.paren:
			j++
			if j+1 < n && (t[j] == ' ' || t[j] == '-') && isDigit(t[j+1]) {
				j++
			}
		case (c == '-' || c == '.' || c == '/') || (c == ' ' && spaces):
			j++
			if c == ' ' && t[j] == '(' && j+1 < n && isDigit(t[j+1]) {
				k.paren = true
				j++
			}
		default:
			return k
		}
		if j >= n || !isDigit(t[j]) {
			k.end = sep
			return k
		}
		if k.ng < len(k.seps) {
			k.seps[k.ng] = c
		}
		if c == ' ' {
			k.space = true
		}
	}
	return k
}

// Words that, shortly before a value, say what it is.
var (
	birthWords   = []string{"birth", "dob", "d.o.b", "born", "geburt", "naissance", "nacimiento"}
	phoneWords   = []string{"phone", "tel", "mobile", "cell", "fax", "call", "sms", "whatsapp"}
	ssnWords     = []string{"ssn", "social security", "social_security"}
	cardWords    = []string{"card", "visa", "mastercard", "amex", "pan", "cc"}
	versionWords = []string{"version", "ver", "v=", "release", "build"}
)

// numeric handles the number at i and returns where scanning resumes.
func (s *Scanner) numeric(t []byte, i int, hint Hint, emit func(Match)) int {
	// A number glued to a word by '.' or '-' ("v1.2.3", the tail of a UUID)
	// is part of that word.
	if i >= 2 && (t[i-1] == '.' || t[i-1] == '-') && isWord(t[i-2]) {
		return skipNumberWord(t, i)
	}
	// Fast path: most numbers in logs are a short run of digits with no
	// separator and digit after it (status=200, bytes=1532), and such a
	// run is no value: the shortest, a phone number, has seven digits.
	if t[i] != '+' && t[i] != '(' {
		j := i
		for j < len(t) && isDigit(t[j]) {
			j++
		}
		if j-i < 7 && !continues(t, j) {
			if j < len(t) && isWord(t[j]) {
				return skipNumberWord(t, j)
			}
			return j
		}
	}
	k := readNumber(t, i, true)
	if !boundaryAfter(t, k.end, k.isDateShape()) {
		if t[k.end] == '@' { // the local part of an address
			return k.end
		}
		return skipNumberWord(t, k.end)
	}
	if s.classify(t, &k, hint, emit) {
		return k.end
	}
	// "order 12 4111 1111 1111 1111": try the space-separated parts alone.
	if k.space && !k.plus && !k.long {
		for j := k.start; j < k.end; {
			if !isDigit(t[j]) && t[j] != '(' {
				j++
				continue
			}
			p := readNumber(t, j, false)
			if p.end > k.end {
				break
			}
			s.classify(t, &p, hint, emit)
			j = p.end
		}
	}
	return k.end
}

// continues reports whether the number ending at j goes on after a
// separator.
func continues(t []byte, j int) bool {
	if j+1 >= len(t) {
		return false
	}
	switch t[j] {
	case '-', '.', '/', ' ':
		return isDigit(t[j+1]) || (t[j] == ' ' && t[j+1] == '(')
	case ')':
		return true
	}
	return false
}

// skipNumberWord skips the rest of a token of digits, letters and joiners.
func skipNumberWord(t []byte, i int) int {
	i++
	for i < len(t) && (isWord(t[i]) || ((t[i] == '.' || t[i] == '-') && i+1 < len(t) && isWord(t[i+1]))) {
		i++
	}
	return i
}

// boundaryAfter reports whether a value may end at end: not glued to a
// word, nor to one by '.' or '-'.
func boundaryAfter(t []byte, end int, date bool) bool {
	if end >= len(t) {
		return true
	}
	c := t[end]
	if date && c == 'T' && end+1 < len(t) && isDigit(t[end+1]) { // 1984-05-17T00:00:00Z
		return true
	}
	if isWord(c) || c == '@' {
		return false
	}
	if (c == '.' || c == '-') && end+1 < len(t) && isWord(t[end+1]) {
		return false
	}
	return true
}

func (k *numTok) isDateShape() bool {
	if k.ng != 3 || k.plus || k.paren || k.seps[1] != k.seps[2] || k.seps[1] == ' ' {
		return false
	}
	a, b, c := k.groups[0], k.groups[1], k.groups[2]
	return (a == 4 && b >= 1 && b <= 2 && c >= 1 && c <= 2) || (c == 4 && a >= 1 && a <= 2 && b >= 1 && b <= 2)
}

// classify reports what k is, if anything. It returns true when k was
// recognised as a kind of number (even one that is not personal data, such
// as a date without birth context), so its parts are not tried alone.
func (s *Scanner) classify(t []byte, k *numTok, hint Hint, emit func(Match)) bool {
	if k.long || k.ng > len(k.groups) || k.nd > len(k.digits) {
		return true // too long to be a value
	}
	d := k.digits[:k.nd]
	if k.plus {
		if s.entities.Has(Phone) && k.nd >= 8 && k.nd <= 15 && validPhone(t[k.start:k.end], "") {
			conf := 0.9
			if hint&HintPhone != 0 || contextBefore(t, k.start, 32, phoneWords) {
				conf = 0.95
			}
			emit(Match{Entity: Phone, Start: k.start, End: k.end, Confidence: conf})
		}
		return true
	}
	// IPv4: four dotted octets.
	if k.ng == 4 && k.sameSeps('.') && !k.paren {
		if s.entities.Has(IPv4) {
			if conf := ipv4Confidence(t[k.start:k.end]); conf > 0 && !contextBefore(t, k.start, 16, versionWords) {
				emit(Match{Entity: IPv4, Start: k.start, End: k.end, Confidence: conf})
			}
		}
		return true
	}
	if k.isDateShape() {
		if s.entities.Has(DOB) && validDate(k) {
			if hint&HintBirth != 0 {
				emit(Match{Entity: DOB, Start: k.start, End: k.end, Confidence: 0.9})
			} else if contextBefore(t, k.start, 40, birthWords) {
				emit(Match{Entity: DOB, Start: k.start, End: k.end, Confidence: 0.85})
			}
		}
		return true
	}
	// SSN: AAA-GG-SSSS.
	if k.shape(3, 2, 4) && (k.sameSeps('-') || k.sameSeps(' ')) && !k.paren {
		if s.entities.Has(SSN) && ValidSSN(string(d)) {
			conf := 0.85
			if k.seps[1] == ' ' {
				conf = 0.6
			}
			if hint&HintSSN != 0 || contextBefore(t, k.start, 32, ssnWords) {
				conf = 0.95
			}
			emit(Match{Entity: SSN, Start: k.start, End: k.end, Confidence: conf})
		}
		if k.seps[1] == '-' {
			return true
		}
	}
	// Card numbers: 13–19 digits, bare or in groups of four (Amex 4-6-5).
	if k.nd >= 13 && k.nd <= 19 && !k.paren && (k.ng == 1 || (k.sameSeps(' ') || k.sameSeps('-')) && cardGroups(k)) {
		if s.entities.Has(Card) && Luhn(d) && Issuer(d) != "" {
			conf := 0.85
			if k.ng > 1 {
				conf = 0.95
			}
			if hint&HintCard != 0 || contextBefore(t, k.start, 32, cardWords) {
				conf = 0.95
			}
			emit(Match{Entity: Card, Start: k.start, End: k.end, Confidence: conf})
			return true
		}
		if k.ng > 1 {
			return true
		}
	}
	// Bare SSN next to its name.
	if k.ng == 1 && k.nd == 9 && s.entities.Has(SSN) && (hint&HintSSN != 0 || contextBefore(t, k.start, 32, ssnWords)) {
		if ValidSSN(string(d)) {
			emit(Match{Entity: SSN, Start: k.start, End: k.end, Confidence: 0.8})
		}
		return true
	}
	// National phone numbers: with --region, or with context.
	if s.entities.Has(Phone) && k.nd >= 7 && k.nd <= 15 {
		ctx := hint&HintPhone != 0 || contextBefore(t, k.start, 32, phoneWords)
		if ctx || (s.region != "" && (k.ng > 1 || k.paren || d[0] == '0')) {
			region := s.region
			if region == "" {
				region = "US"
			}
			if validPhone(t[k.start:k.end], region) {
				conf := 0.7
				if ctx {
					conf = 0.85
				}
				emit(Match{Entity: Phone, Start: k.start, End: k.end, Confidence: conf})
				return true
			}
		}
	}
	return false
}

func cardGroups(k *numTok) bool {
	if k.shape(4, 6, 5) || k.shape(4, 6, 4) {
		return true
	}
	for g := 0; g < k.ng-1; g++ {
		if k.groups[g] != 4 {
			return false
		}
	}
	last := k.groups[k.ng-1]
	return last >= 1 && last <= 4
}

func validPhone(b []byte, region string) bool {
	num, err := phonenumbers.Parse(string(b), region)
	if err != nil {
		return false
	}
	return phonenumbers.IsValidNumber(num)
}

// ipv4Confidence rates a dotted quad: 0 when it is not an address with
// strict octets (no leading zeros, at most 255) or names no one (0.0.0.0,
// loopback, broadcast, netmasks), 0.6 for private ranges, 0.9 otherwise.
func ipv4Confidence(b []byte) float64 {
	var oct [4]int
	o, digits := 0, 0
	for j := 0; j <= len(b); j++ {
		if j == len(b) || b[j] == '.' {
			if digits == 0 || digits > 3 || o > 3 {
				return 0
			}
			if digits > 1 && b[j-digits] == '0' {
				return 0
			}
			o++
			digits = 0
			continue
		}
		if !isDigit(b[j]) {
			return 0
		}
		oct[o] = oct[o]*10 + int(b[j]-'0')
		if oct[o] > 255 {
			return 0
		}
		digits++
	}
	if o != 4 {
		return 0
	}
	switch {
	case oct[0] == 0, oct[0] == 127, oct[0] == 255, oct[0] >= 224:
		return 0
	case oct[0] == 10, oct[0] == 172 && oct[1]&0xf0 == 16, oct[0] == 192 && oct[1] == 168,
		oct[0] == 169 && oct[1] == 254, oct[0] == 100 && oct[1]&0xc0 == 64:
		return 0.6
	}
	return 0.9
}

// validDate reports whether a date-shaped token is a calendar date between
// 1900 and 2099, reading D/M/Y and M/D/Y both.
func validDate(k *numTok) bool {
	d := k.digits[:k.nd]
	num := func(b []byte) int {
		v := 0
		for _, c := range b {
			v = v*10 + int(c-'0')
		}
		return v
	}
	a, b := int(k.groups[0]), int(k.groups[1])
	if a == 4 {
		return calendar(num(d[:4]), num(d[4:4+b]), num(d[4+b:]))
	}
	y := num(d[a+b:])
	x, z := num(d[:a]), num(d[a:a+b])
	return calendar(y, x, z) || calendar(y, z, x)
}

func calendar(y, m, d int) bool {
	if y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}
