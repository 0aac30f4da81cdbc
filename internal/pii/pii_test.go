package pii

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// found runs the scanner and returns "entity:value" for every match.
func found(s *Scanner, text string, hint Hint) []string {
	var out []string
	s.Scan([]byte(text), hint, func(m Match) {
		out = append(out, fmt.Sprintf("%s:%s", m.Entity, text[m.Start:m.End]))
	})
	return out
}

func TestScan(t *testing.T) {
	s := New(Options{})
	tests := []struct {
		in   string
		hint string
		want []string
	}{
		// e-mail
		{in: "contact jane.doe+shop@example.co.uk today", want: []string{"email:jane.doe+shop@example.co.uk"}},
		{in: "mail: <Ann_O-Neil@mail.example.org>.", want: []string{"email:Ann_O-Neil@mail.example.org"}},
		{in: "icon@2x.png and user@localhost and a@b.c and x..y@example.com", want: nil},
		{in: "git@github.com:org/repo.git", want: []string{"email:git@github.com"}},
		// phone
		{in: "call +1 415 555 2671 now", want: []string{"phone:+1 415 555 2671"}},
		{in: "tel:+44 20 7946 0958", want: []string{"phone:+44 20 7946 0958"}},
		{in: "+49 30 901820", want: []string{"phone:+49 30 901820"}},
		{in: "phone: (415) 555-2671", want: []string{"phone:(415) 555-2671"}},
		{in: "took (415) 555-2671 ms", want: nil}, // national without context or region
		{in: "+12", want: nil},
		// card
		{in: "card 4111 1111 1111 1111 exp 12/27", want: []string{"card:4111 1111 1111 1111"}},
		{in: "pan=5555555555554444;", want: []string{"card:5555555555554444"}},
		{in: "amex 3782-822463-10005", want: []string{"card:3782-822463-10005"}},
		{in: "id 4111111111111112", want: nil},         // Luhn fails
		{in: "order 0000000000000000", want: nil},      // no issuer
		{in: "ts=1700000000000000000 n=12", want: nil}, // too long
		// IBAN
		{in: "IBAN DE89 3704 0044 0532 0130 00.", want: []string{"iban:DE89 3704 0044 0532 0130 00"}},
		{in: "iban=GB82WEST12345698765432", want: []string{"iban:GB82WEST12345698765432"}},
		{in: "GB82WEST12345698765433 DE89370400440532013001", want: nil}, // bad checksums
		// SSN
		{in: "ssn 123-45-6788", want: []string{"ssn:123-45-6788"}},
		{in: "078-05-1120 000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000", want: nil},
		{in: "SSN: 536225678", want: []string{"ssn:536225678"}},
		{in: "id 536225678", want: nil}, // bare nine digits need context
		// IPv4
		{in: "from 203.0.113.9:443 and 10.1.2.3", want: []string{"ipv4:203.0.113.9", "ipv4:10.1.2.3"}},
		{in: "lib 1.4.22.1903 v1.2.3.4 version 2.0.0.1 1.2.3.4.5 010.1.1.1 127.0.0.1 256.1.1.1", want: nil},
		// IPv6
		{in: "client 2001:db8:85a3::8a2e:370:7334 port", want: []string{"ipv6:2001:db8:85a3::8a2e:370:7334"}},
		{in: "[2606:4700:4700::1111]:443", want: []string{"ipv6:2606:4700:4700::1111"}},
		{in: "at 10:22:33 mac 00:1a:2b:3c:4d:5e std::vector ::1 a::b::c", want: nil},
		// date of birth
		{in: "born 1984-05-17", want: []string{"date_of_birth:1984-05-17"}},
		{in: `{"dob":"17/05/1984"}`, want: []string{"date_of_birth:17/05/1984"}},
		{in: "1984-05-17", hint: "birthdate", want: []string{"date_of_birth:1984-05-17"}},
		{in: "created 2024-05-17 born 1984-02-30", want: nil},
		// names
		{in: "Dear Maria Garcia,", want: []string{"person_name:Maria Garcia"}},
		{in: "ticket from John Smith about", want: []string{"person_name:John Smith"}},
		{in: "customer: Jane Okonkwo", want: []string{"person_name:Jane Okonkwo"}},
		{in: "Jane Street and Paul Okonkwo", want: nil},
		{in: "Jane van Doe", hint: "full_name", want: nil},
		{in: "Ngozi Okonkwo", hint: "customer_name", want: nil}, // 0.55, filtered by the caller
		{in: "Anna Schmidt", hint: "name", want: []string{"person_name:Anna Schmidt"}},
		// decoys
		{in: "uuid 123e4567-e89b-12d3-a456-426614174000 sha 4a7d1ed414474e4033ac29ccb8653d9b", want: nil},
		{in: "at 2024-05-17T10:22:33.123Z took 23ms build 20240517.1 v10.0.19041.1", want: nil},
	}
	for _, tc := range tests {
		var got []string
		s.Scan([]byte(tc.in), ParseHint(tc.hint), func(m Match) {
			if m.Confidence >= 0.6 {
				got = append(got, fmt.Sprintf("%s:%s", m.Entity, tc.in[m.Start:m.End]))
			}
		})
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Scan(%q, %q) (-want +got):\n%s", tc.in, tc.hint, diff)
		}
	}
}

func TestRegion(t *testing.T) {
	in := "ruf an 030 901820 oder 0171 1234567"
	if got := found(New(Options{}), in, 0); got != nil {
		t.Errorf("without region: %v", got)
	}
	got := found(New(Options{Region: "DE"}), in, 0)
	want := []string{"phone:030 901820", "phone:0171 1234567"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("region DE (-want +got):\n%s", diff)
	}
}

func TestEntitiesOption(t *testing.T) {
	s := New(Options{Entities: SetOf(Email)})
	got := found(s, "a@example.com 4111111111111111 203.0.113.9", 0)
	if diff := cmp.Diff([]string{"email:a@example.com"}, got); diff != "" {
		t.Error(diff)
	}
}

func TestValidators(t *testing.T) {
	for _, v := range []string{"DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "NL91ABNA0417164300", "FR1420041010050500013M02606"} {
		if !ValidIBAN(v) {
			t.Errorf("ValidIBAN(%q) = false", v)
		}
	}
	for _, v := range []string{"DE89370400440532013001", "DE8937040044053201300", "XX89370400440532013000", "GB82 WEST 1234 5698 7654 3 2"} {
		if ValidIBAN(v) {
			t.Errorf("ValidIBAN(%q) = true", v)
		}
	}
	for _, v := range []string{"4111111111111111", "378282246310005", "6011111111111117", "5105105105105100"} {
		if !Luhn([]byte(v)) || Issuer([]byte(v)) == "" {
			t.Errorf("card %q rejected", v)
		}
	}
	if Issuer([]byte("9111111111111111")) != "" || Luhn([]byte("4111111111111112")) {
		t.Error("bad card accepted")
	}
}

func TestMask(t *testing.T) {
	tests := map[string]string{
		"jane.doe@example.com":   "****.***@******e.com",
		"4111 1111 1111 1111":    "**** **** **** 1111",
		"203.0.113.9":            "***.*.**3.9",
		"Jane Doe":               "**** **e",
		"1984-05-17":             "****-**-17",
		"José":                   "****",
		strings.Repeat("a", 100): strings.Repeat("*", 37) + "...",
	}
	for in, want := range tests {
		if got := Mask([]byte(in)); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
