package pii

import (
	"fmt"
	"strings"
)

// Entity names a kind of personal data.
type Entity uint8

// The entities, in report order.
const (
	Email Entity = iota + 1
	Phone
	Card
	IBAN
	SSN
	IPv4
	IPv6
	DOB
	Name
	numEntities
)

var entityNames = [...]string{Email: "email", Phone: "phone", Card: "card", IBAN: "iban", SSN: "ssn",
	IPv4: "ipv4", IPv6: "ipv6", DOB: "date_of_birth", Name: "person_name"}

var entityTitles = [...]string{Email: "e-mail address", Phone: "phone number", Card: "payment card number",
	IBAN: "IBAN", SSN: "US Social Security number", IPv4: "IPv4 address", IPv6: "IPv6 address",
	DOB: "date of birth", Name: "person name"}

func (e Entity) String() string {
	if e == 0 || e >= numEntities {
		return fmt.Sprintf("entity(%d)", uint8(e))
	}
	return entityNames[e]
}

// Title is a human description ("e-mail address").
func (e Entity) Title() string {
	if e == 0 || e >= numEntities {
		return e.String()
	}
	return entityTitles[e]
}

// Entities lists every entity in report order.
func Entities() []Entity {
	out := make([]Entity, 0, numEntities-1)
	for e := Email; e < numEntities; e++ {
		out = append(out, e)
	}
	return out
}

// ParseEntity is the inverse of Entity.String.
func ParseEntity(s string) (Entity, error) {
	for e := Email; e < numEntities; e++ {
		if entityNames[e] == s {
			return e, nil
		}
	}
	return 0, fmt.Errorf("unknown entity %q (one of %s)", s, strings.Join(entityNames[1:], ", "))
}

// Set is a set of entities.
type Set uint16

// All holds every entity.
const All Set = 1<<numEntities - 2

// Has reports whether e is in s.
func (s Set) Has(e Entity) bool { return s&(1<<e) != 0 }

// SetOf builds a set.
func SetOf(es ...Entity) Set {
	var s Set
	for _, e := range es {
		s |= 1 << e
	}
	return s
}

// Match is one value found: offsets into the scanned text.
type Match struct {
	Entity     Entity
	Start, End int
	// Confidence is in (0, 1]: how sure the detector is that this is
	// personal data of that kind, not a look-alike.
	Confidence float64
}

// Options configure a Scanner.
type Options struct {
	// Region is an ISO 3166 country code ("US", "DE") for phone numbers
	// written in national format. Without it, national numbers are found
	// only next to context ("phone", "tel", …), and then read as US numbers.
	Region string
	// Entities limits detection; zero means All.
	Entities Set
}

// Scanner finds personal data. It is safe for concurrent use.
type Scanner struct {
	region   string
	entities Set
}

// New returns a Scanner.
func New(o Options) *Scanner {
	s := &Scanner{region: strings.ToUpper(o.Region), entities: o.Entities}
	if s.entities == 0 {
		s.entities = All
	}
	return s
}

// Hint is what a column name or a field key says about its values.
type Hint uint16

// Hints.
const (
	HintName Hint = 1 << iota
	HintBirth
	HintPhone
	HintSSN
	HintCard
)

// ParseHint reads a column name or JSON key ("date_of_birth", "customer_name",
// "phone") into a Hint.
func ParseHint(key string) Hint {
	k := strings.ToLower(key)
	var h Hint
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(k, s) {
				return true
			}
		}
		return false
	}
	if has("birth", "dob", "born", "geburt") {
		h |= HintBirth
	}
	if has("name", "surname") && !has("user", "file", "host", "domain", "product", "company", "table", "column",
		"schema", "path", "bucket", "server", "service", "device", "app", "brand", "org", "team", "role", "type", "key") {
		h |= HintName
	}
	if has("phone", "tel", "mobile", "cell", "fax", "msisdn") && !has("hotel") {
		h |= HintPhone
	}
	if has("ssn", "social_security", "socialsecurity") {
		h |= HintSSN
	}
	if has("card", "pan", "ccnum", "cc_num") && !has("company", "span") {
		h |= HintCard
	}
	return h
}

// Scan reports every match in text to emit, in order of position. hint says
// what the text's column or key is named (0 when unknown). Matches do not
// span a newline.
func (s *Scanner) Scan(text []byte, hint Hint, emit func(Match)) {
	t := text
	n := len(t)
	if hint&HintName != 0 && s.entities.Has(Name) {
		if start, end, conf := nameField(t); conf > 0 {
			emit(Match{Entity: Name, Start: start, End: end, Confidence: conf})
			return
		}
	}
	for i := 0; i < n; {
		c := t[i]
		switch class[c] {
		case cOther:
			i++
		case cLower:
			i = skipWord(t, i)
		case cUpper:
			i = s.upperWord(t, i, hint, emit)
		case cDigit:
			i = s.numeric(t, i, hint, emit)
		case cAt:
			i = s.email(t, i, emit)
		case cColon:
			i = s.ipv6(t, i, emit)
		case cPlus, cParen:
			if i+1 < n && class[t[i+1]] == cDigit && (i == 0 || !isWord(t[i-1])) {
				i = s.numeric(t, i, hint, emit)
			} else {
				i++
			}
		}
	}
}

// Byte classes for the main loop.
const (
	cOther = iota
	cLower // a-z, '_' and bytes ≥ 0x80: skipped as part of a word
	cUpper
	cDigit
	cAt
	cColon
	cPlus
	cParen
)

var class [256]uint8

func init() {
	for c := 'a'; c <= 'z'; c++ {
		class[c] = cLower
	}
	class['_'] = cLower
	for c := 0x80; c < 256; c++ {
		class[c] = cLower
	}
	for c := 'A'; c <= 'Z'; c++ {
		class[c] = cUpper
	}
	for c := '0'; c <= '9'; c++ {
		class[c] = cDigit
	}
	for c := range 256 {
		wordByte[c] = class[c] == cLower || class[c] == cUpper || class[c] == cDigit
	}
	class['@'] = cAt
	class[':'] = cColon
	class['+'] = cPlus
	class['('] = cParen
}

// isWord reports whether c is part of a word: a letter, digit, '_' or a
// byte of a multi-byte UTF-8 sequence.
func isWord(c byte) bool { return wordByte[c] }

var wordByte [256]bool

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool { return isUpper(c) || isLower(c) }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }

// skipWord returns the end of the word that starts at i.
func skipWord(t []byte, i int) int {
	for i < len(t) && isWord(t[i]) {
		i++
	}
	return i
}

// contextBefore reports whether one of words appears (case-insensitively)
// in the window bytes before start, on the same line.
func contextBefore(t []byte, start, window int, words []string) bool {
	lo := max(0, start-window)
	w := t[lo:start]
	for j := len(w) - 1; j >= 0; j-- {
		if w[j] == '\n' {
			w = w[j+1:]
			break
		}
	}
	for _, word := range words {
		if hasWordFold(w, word) {
			return true
		}
	}
	return false
}

// hasWordFold reports whether needle starts a word in b: after a byte that
// is not a letter, or as the capitalised part of a camelCase name
// ("dateOfBirth"). So "tel" is not found in "hotel", nor "ver" in "server".
func hasWordFold(b []byte, needle string) bool {
	for off := 0; off < len(b); {
		i := indexFold(b[off:], needle)
		if i < 0 {
			return false
		}
		i += off
		if i == 0 || !isAlpha(b[i-1]) || (isUpper(b[i]) && isLower(b[i-1])) {
			return true
		}
		off = i + 1
	}
	return false
}

// indexFold finds lower-case ASCII needle in b, ignoring ASCII case.
func indexFold(b []byte, needle string) int {
	if len(needle) == 0 {
		return 0
	}
	first := needle[0]
	for i := 0; i+len(needle) <= len(b); i++ {
		if b[i]|0x20 != first {
			continue
		}
		j := 1
		for ; j < len(needle); j++ {
			if b[i+j]|0x20 != needle[j] && !(needle[j] == b[i+j]) {
				break
			}
		}
		if j == len(needle) {
			return i
		}
	}
	return -1
}
