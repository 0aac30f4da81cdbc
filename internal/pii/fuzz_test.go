package pii

import (
	"bytes"
	"net/netip"
	"testing"
	"unicode/utf8"
)

var seeds = []string{
	"contact jane.doe+shop@example.co.uk today", "icon@2x.png a@b.c x..y@example.com @@a@b.co",
	"call +1 415 555 2671 now", "phone: (415) 555-2671", "+44 (0)20 7946 0958", "+++1 (((2",
	"card 4111 1111 1111 1111 exp 12/27", "amex 3782-822463-10005", "4111111111111112 0000000000000000",
	"IBAN DE89 3704 0044 0532 0130 00.", "GB82WEST12345698765432", "DE89 3704 0044 0532 0130 0",
	"ssn 123-45-6788", "SSN: 536225678", "078-05-1120 666-12-3456",
	"from 203.0.113.9:443", "1.4.22.1903 v1.2.3.4 010.1.1.1",
	"client 2001:db8:85a3::8a2e:370:7334", "[::ffff:192.0.2.1] fe80::1%eth0 10:22:33 ::",
	"born 1984-05-17", `{"dob":"17/05/1984"}`, "born 1984-02-29T00:00:00Z",
	"Dear Maria Garcia,", "customer: Jane Okonkwo", "O'Brien Mary O'Brien-Smith",
	"uuid 123e4567-e89b-12d3-a456-426614174000", "\xff\xfe4111111111111111\x00", "José García",
}

// fuzzDetector checks the invariants every detector keeps on any input:
// matches are in order, inside the input, on one line, of the entity asked
// for, with a confidence in (0, 1]; their masked sample never equals the
// value; and the value passes the entity's own validity check again.
func fuzzDetector(f *testing.F, e Entity, valid func(t *testing.T, v []byte)) {
	for _, s := range seeds {
		f.Add(s, "", "")
	}
	f.Add("1984-05-17", "birthdate", "")
	f.Add("030 901820", "phone", "DE")
	f.Add("Ngozi Okonkwo", "name", "")
	f.Fuzz(func(t *testing.T, in, key, region string) {
		if len(region) > 3 {
			region = region[:3]
		}
		set := SetOf(e)
		if e == 0 {
			set = All
		}
		s := New(Options{Region: region, Entities: set})
		text := []byte(in)
		prev := 0
		s.Scan(text, ParseHint(key), func(m Match) {
			if e != 0 && m.Entity != e {
				t.Fatalf("entity %v, asked for %v", m.Entity, e)
			}
			if m.Start < prev || m.End <= m.Start || m.End > len(text) {
				t.Fatalf("bad span [%d,%d) after %d in %d bytes", m.Start, m.End, prev, len(text))
			}
			prev = m.End
			if m.Confidence <= 0 || m.Confidence > 1 {
				t.Fatalf("confidence %v", m.Confidence)
			}
			v := text[m.Start:m.End]
			if bytes.IndexByte(v, '\n') >= 0 {
				t.Fatalf("match %q spans lines", v)
			}
			if masked := Mask(v); masked == string(v) || (len(v) >= 4 && bytes.Contains([]byte(masked), v)) {
				t.Fatalf("Mask(%q) = %q shows the value", v, masked)
			}
			if valid != nil {
				valid(t, v)
			}
		})
	})
}

func digitsOf(v []byte) []byte {
	var d []byte
	for _, c := range v {
		if isDigit(c) {
			d = append(d, c)
		}
	}
	return d
}

// selfFound checks that the value alone is found again, whole.
func selfFound(t *testing.T, e Entity, v []byte) {
	t.Helper()
	ok := false
	New(Options{Entities: SetOf(e)}).Scan(v, 0, func(m Match) { ok = ok || (m.Start == 0 && m.End == len(v)) })
	if !ok {
		t.Fatalf("%v %q is not found again on its own", e, v)
	}
}

func FuzzEmail(f *testing.F) {
	fuzzDetector(f, Email, func(t *testing.T, v []byte) {
		if bytes.Count(v, []byte("@")) != 1 {
			t.Fatalf("email %q", v)
		}
		selfFound(t, Email, v)
	})
}

func FuzzPhone(f *testing.F) {
	fuzzDetector(f, Phone, func(t *testing.T, v []byte) {
		if n := len(digitsOf(v)); n < 7 || n > 15 {
			t.Fatalf("phone %q has %d digits", v, n)
		}
		if v[0] == '+' {
			selfFound(t, Phone, v)
		}
	})
}

func FuzzCard(f *testing.F) {
	fuzzDetector(f, Card, func(t *testing.T, v []byte) {
		d := digitsOf(v)
		if !Luhn(d) || Issuer(d) == "" {
			t.Fatalf("card %q fails Luhn or issuer", v)
		}
		selfFound(t, Card, v)
	})
}

func FuzzIBAN(f *testing.F) {
	fuzzDetector(f, IBAN, func(t *testing.T, v []byte) {
		if !ValidIBAN(string(v)) {
			t.Fatalf("IBAN %q invalid", v)
		}
		selfFound(t, IBAN, v)
	})
}

func FuzzSSN(f *testing.F) {
	fuzzDetector(f, SSN, func(t *testing.T, v []byte) {
		if !ValidSSN(string(digitsOf(v))) {
			t.Fatalf("SSN %q invalid", v)
		}
	})
}

func FuzzIPv4(f *testing.F) {
	fuzzDetector(f, IPv4, func(t *testing.T, v []byte) {
		a, err := netip.ParseAddr(string(v))
		if err != nil || !a.Is4() {
			t.Fatalf("IPv4 %q: %v", v, err)
		}
		selfFound(t, IPv4, v)
	})
}

func FuzzIPv6(f *testing.F) {
	fuzzDetector(f, IPv6, func(t *testing.T, v []byte) {
		a, err := netip.ParseAddr(string(v))
		if err != nil || !a.Is6() {
			t.Fatalf("IPv6 %q: %v", v, err)
		}
		selfFound(t, IPv6, v)
	})
}

func FuzzDOB(f *testing.F) {
	fuzzDetector(f, DOB, func(t *testing.T, v []byte) {
		k := readNumber(v, 0, false)
		if k.end != len(v) || !k.isDateShape() || !validDate(&k) {
			t.Fatalf("date of birth %q is not a date", v)
		}
	})
}

func FuzzName(f *testing.F) {
	fuzzDetector(f, Name, func(t *testing.T, v []byte) {
		if !utf8.Valid(v) && utf8.Valid(bytes.TrimRight(v, "\x80\xbf")) {
			t.Fatalf("name %q cut inside a character", v)
		}
		if !isUpper(v[0]) {
			t.Fatalf("name %q does not start with a capital", v)
		}
	})
}

// FuzzScan runs every detector at once: matches never overlap.
func FuzzScan(f *testing.F) {
	fuzzDetector(f, 0, nil)
}
