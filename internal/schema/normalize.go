package schema

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/pii"
	"github.com/cofferhq/coffer/internal/token"
)

// MaxString is the longest string value accepted, in bytes.
const MaxString = 65536

func invalid(f *coffer.Field, expected string) error {
	return &coffer.Error{Code: coffer.EINVALID, Message: `field "` + f.Name + `": ` + expected}
}

// Normalize validates one JSON value (not null) against f's type. It
// returns plain, the canonical JSON encoding of the normalized value (what
// is encrypted and later returned verbatim), and index, the bytes hashed
// into the blind index for exact-match search. Errors name the field and
// the expected form, never the value.
func Normalize(f *coffer.Field, raw json.RawMessage) (plain, index []byte, err error) {
	raw = bytes.TrimSpace(raw)
	switch f.Type {
	case coffer.TypeBoolean:
		if s := string(raw); s == "true" || s == "false" {
			return raw, raw, nil
		}
		return nil, nil, invalid(f, "must be true or false")
	case coffer.TypeInteger:
		// Integers are written plainly: no fraction, no exponent, so that
		// no value is rounded on its way in.
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || len(raw) == 0 || raw[0] == '+' || (len(raw) > 1 && raw[0] == '0') || (len(raw) > 2 && raw[0] == '-' && raw[1] == '0') {
			return nil, nil, invalid(f, "must be an integer between -2^63 and 2^63-1 written without fraction or exponent")
		}
		p := strconv.AppendInt(nil, n, 10)
		return p, p, nil
	case coffer.TypeJSON:
		if !json.Valid(raw) {
			return nil, nil, invalid(f, "must be a JSON value")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, nil, invalid(f, "must be a JSON value")
		}
		if buf.Len() > MaxString {
			return nil, nil, invalid(f, "must be at most 65536 bytes")
		}
		return buf.Bytes(), buf.Bytes(), nil
	}
	s, ok := jsonString(raw)
	if !ok {
		return nil, nil, invalid(f, "must be a JSON string")
	}
	if len(s) > MaxString {
		return nil, nil, invalid(f, "must be at most 65536 bytes")
	}
	if !validText(s) {
		return nil, nil, invalid(f, "must be valid UTF-8 text without control characters")
	}
	var norm, idx string
	switch f.Type {
	case coffer.TypeString:
		norm = s
	case coffer.TypeEmail:
		norm, idx, ok = normalizeEmail(strings.TrimSpace(s))
		if !ok {
			return nil, nil, invalid(f, "not a valid email address (RFC 5322 addr-spec, such as name@example.com)")
		}
	case coffer.TypePhone:
		norm, ok = normalizePhone(strings.TrimSpace(s))
		if !ok {
			return nil, nil, invalid(f, "not a valid phone number: an international number with +, such as +14155550132")
		}
	case coffer.TypeDate:
		norm, ok = normalizeDate(strings.TrimSpace(s))
		if !ok {
			return nil, nil, invalid(f, "not a valid date: ISO 8601 YYYY-MM-DD")
		}
	case coffer.TypeCardNumber:
		norm, ok = normalizeCard(s)
		if !ok {
			return nil, nil, invalid(f, "not a valid card number (12 to 19 digits passing the Luhn check)")
		}
	case coffer.TypeIBAN:
		norm, ok = normalizeIBAN(s)
		if !ok {
			return nil, nil, invalid(f, "not a valid IBAN (country code, check digits and the country's length)")
		}
	case coffer.TypeSSN:
		norm, ok = normalizeSSN(strings.TrimSpace(s))
		if !ok {
			return nil, nil, invalid(f, "not a valid US social security number (AAA-GG-SSSS)")
		}
	case coffer.TypeIP:
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || a.Zone() != "" {
			return nil, nil, invalid(f, "not a valid IPv4 or IPv6 address")
		}
		norm = a.Unmap().String()
	default:
		return nil, nil, invalid(f, "has an unknown type")
	}
	if idx == "" {
		idx = norm
	}
	if norm == s && !bytes.ContainsRune(raw, '\\') {
		plain = raw // already canonical
	} else {
		plain, _ = json.Marshal(norm)
	}
	return plain, []byte(idx), nil
}

// jsonString decodes a JSON string, slicing the quotes off when it holds
// no escapes (the common case) and falling back to encoding/json.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func validText(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return false
		}
		i += n
	}
	return true
}

const atext = "!#$%&'*+-/=?^_`{|}~"

func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(atext, c) >= 0
}

func dotAtom(s string, ok func(byte) bool) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && !ok(s[i]) {
			return false
		}
	}
	return true
}

// normalizeEmail checks an RFC 5322 addr-spec and lower-cases the domain.
// The index form also lower-cases the local part: RFC 5321 lets a server
// treat local parts case-sensitively, but practically none does, and
// search should find Jane.Doe@ and jane.doe@ alike.
func normalizeEmail(s string) (norm, index string, ok bool) {
	if len(s) > 254 {
		return "", "", false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", "", false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return "", "", false
	}
	if local[0] == '"' {
		if len(local) < 2 || local[len(local)-1] != '"' {
			return "", "", false
		}
		q := local[1 : len(local)-1]
		for i := 0; i < len(q); i++ {
			c := q[i]
			if c == '\\' {
				i++
				if i == len(q) || q[i] < 0x20 || q[i] > 0x7e {
					return "", "", false
				}
				continue
			}
			if c == '"' || c < 0x20 || c > 0x7e {
				return "", "", false
			}
		}
	} else if !dotAtom(local, isAtext) {
		return "", "", false
	}
	if strings.HasPrefix(domain, "[") {
		lit := strings.TrimSuffix(strings.TrimPrefix(domain, "["), "]")
		if len(lit)+2 != len(domain) {
			return "", "", false
		}
		lit = strings.TrimPrefix(lit, "IPv6:")
		if _, err := netip.ParseAddr(lit); err != nil {
			return "", "", false
		}
	} else {
		labels := strings.Split(domain, ".")
		if len(labels) < 2 || len(domain) > 253 {
			return "", "", false
		}
		for _, l := range labels {
			if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
				return "", "", false
			}
			for i := 0; i < len(l); i++ {
				c := l[i]
				if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
					return "", "", false
				}
			}
		}
	}
	norm = local + "@" + strings.ToLower(domain)
	return norm, strings.ToLower(norm), true
}

func normalizePhone(s string) (string, bool) {
	if !strings.HasPrefix(s, "+") || len(s) > 40 {
		return "", false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || c == ' ' || c == '-' || c == '(' || c == ')' || c == '.') {
			return "", false
		}
	}
	n, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

func normalizeDate(s string) (string, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return "", false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1 {
		return "", false
	}
	return s, true
}

func digitsOnly(s string, seps string) (string, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			b = append(b, c)
		case strings.IndexByte(seps, c) >= 0:
		default:
			return "", false
		}
	}
	return string(b), true
}

func normalizeCard(s string) (string, bool) {
	d, err := token.NormalizeCard(strings.TrimSpace(s))
	return d, err == nil
}

// normalizeIBAN upper-cases and compacts an IBAN, then checks its
// country's length and its mod-97 check digits (pii.ValidIBAN).
func normalizeIBAN(s string) (string, bool) {
	b := make([]byte, 0, 34)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
		case '0' <= c && c <= '9', 'A' <= c && c <= 'Z':
			b = append(b, c)
		case 'a' <= c && c <= 'z':
			b = append(b, c-'a'+'A')
		default:
			return "", false
		}
		if len(b) > 34 {
			return "", false
		}
	}
	if !pii.ValidIBAN(string(b)) {
		return "", false
	}
	return string(b), true
}

func normalizeSSN(s string) (string, bool) {
	d, ok := digitsOnly(s, "- ")
	if !ok || len(d) != 9 {
		return "", false
	}
	area, group, serial := d[:3], d[3:5], d[5:]
	if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
		return "", false
	}
	f := area + "-" + group + "-" + serial
	switch {
	case f == "078-05-1120", f == "219-09-9999", strings.HasPrefix(f, "987-65-432"):
		return "", false // advertising and other published numbers
	}
	return f, true
}
