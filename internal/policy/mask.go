package policy

import (
	"strings"
	"unicode/utf8"
)

// Mask applies a named mask to a normalized plaintext value (SPEC §3).
// Unknown masks and the empty name redact completely, so a typo can never
// reveal a value.
//
//	email    j***@e******.com
//	last4    *******0123
//	pan      411111******1111 (BIN 6 + last 4, PCI DSS 4.0.1 req. 3.4.1)
//	initials J. D.
//	year     1984-**-**
//	redact   [REDACTED]
func Mask(mask, v string) string {
	switch mask {
	case "email":
		return maskEmail(v)
	case "last4":
		return keepLast(v, 4)
	case "pan":
		return maskPAN(v)
	case "initials":
		return initials(v)
	case "year":
		if len(v) == 10 && v[4] == '-' && v[7] == '-' {
			return v[:4] + "-**-**"
		}
	}
	return "[REDACTED]"
}

func stars(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("*", n)
}

func maskEmail(v string) string {
	at := strings.LastIndexByte(v, '@')
	if at <= 0 {
		return "[REDACTED]"
	}
	local, domain := v[:at], v[at+1:]
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 {
		return "[REDACTED]"
	}
	first := func(s string) string {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError {
			return "*"
		}
		return s[:n] + stars(utf8.RuneCountInString(s)-1)
	}
	return first(local) + "@" + first(domain[:dot]) + domain[dot:]
}

// keepLast shows the last n characters and stars the rest; values of n
// characters or fewer are fully starred.
func keepLast(v string, n int) string {
	rs := []rune(v)
	if len(rs) <= n {
		return stars(len(rs))
	}
	return stars(len(rs)-n) + string(rs[len(rs)-n:])
}

func maskPAN(v string) string {
	if len(v) < 13 { // shorter than any PAN: show nothing but the last 4
		return keepLast(v, 4)
	}
	return v[:6] + stars(len(v)-10) + v[len(v)-4:]
}

func initials(v string) string {
	var b strings.Builder
	for w := range strings.FieldsSeq(v) {
		r, _ := utf8.DecodeRuneInString(w)
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		b.WriteByte('.')
	}
	if b.Len() == 0 {
		return "[REDACTED]"
	}
	return b.String()
}
