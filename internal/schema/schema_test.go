package schema

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/token"
)

func shop(t testing.TB) []byte {
	b, err := os.ReadFile("../../examples/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseShop(t *testing.T) {
	s, err := Parse("shop.yaml", shop(t))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Collections["customers"]
	if diff := cmp.Diff([]string{"email", "name", "phone", "birthdate", "address"}, c.Order); diff != "" {
		t.Errorf("field order (-want +got):\n%s", diff)
	}
	email := c.Fields["email"]
	if email.Type != coffer.TypeEmail || !email.Searchable || !email.Required || email.Mask != "email" ||
		!cmp.Equal(email.Purposes, []string{"account", "support", "marketing", "partners"}) {
		t.Errorf("email = %+v", email)
	}
	if c.Retention.Hours() != 1095*24 || c.Fields["birthdate"].Retention.Hours() != 730*24 {
		t.Errorf("retentions %v %v", c.Retention, c.Fields["birthdate"].Retention)
	}
	if !s.Purposes["partners"].SaleOrSharing || s.Purposes["marketing"].SaleOrSharing {
		t.Errorf("sale_or_sharing flags: partners %v, marketing %v", s.Purposes["partners"].SaleOrSharing, s.Purposes["marketing"].SaleOrSharing)
	}
	if s.Purposes["marketing"].LegalBasis != coffer.BasisConsent {
		t.Error("marketing basis")
	}
	sup := s.Roles["support"]
	if sup.AllPurposes || !cmp.Equal(sup.Purposes, []string{"support"}) || sup.Grant("customers").ReadView("email") != coffer.ViewMasked ||
		sup.Grant("customers").ReadView("birthdate") != "" || !sup.Grant("customers").CanSearch("phone") || sup.Grant("customers").CanWrite("name") {
		t.Errorf("support role = %+v", sup)
	}
	if a := s.Roles["admin"]; !a.Admin || !a.AllPurposes || a.Grant("payment_methods").ReadView("card_number") != coffer.ViewPlain {
		t.Errorf("admin role = %+v", a)
	}
	if s.Collections["payment_methods"].Fields["card_number"].Tokenize != "card" {
		t.Error("card tokenization")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	s, err := Parse("shop.yaml", shop(t))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Parse("marshalled.json", doc)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	if diff := cmp.Diff(s, s2); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	base := "purposes:\n  account: {legal_basis: contract}\ncollections:\n  customers:\n    fields:\n"
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "x.yaml:0: empty document"},
		{"unknown top key", "purposes: {}\nextras: 1\n", "x.yaml:2: unknown key \"extras\""},
		{"bad basis", "purposes:\n  account: {legal_basis: vibes}\ncollections: {}\n", "x.yaml:2: purposes.account.legal_basis: \"vibes\" is not a GDPR Art. 6 legal basis"},
		{"track type", base + "      stripe: {type: track_data, classification: payment, purposes: [account]}\n", "x.yaml:6: collections.customers.fields.stripe.type: type \"track_data\" is sensitive authentication data"},
		{"bad namespace", base + "      x: {type: string, classification: personal, purposes: [account]}\nroles:\n  r: {purposes: [account], tokens: {detokenize: [Bad NS]}}\n", "roles.r.tokens.detokenize: a token namespace is"},
		{"bad sale flag", "purposes:\n  ads: {legal_basis: consent, sale_or_sharing: yes please}\ncollections: {}\n", "x.yaml:2: purposes.ads.sale_or_sharing: true or false"},
		{"unknown type", base + "      email: {type: emial, classification: personal, purposes: [account]}\n", "x.yaml:6: collections.customers.fields.email.type: unknown type \"emial\""},
		{"undeclared purpose", base + "      email: {type: email, classification: personal, purposes: [account, sales]}\n", "x.yaml:6: collections.customers.fields.email.purposes: purpose \"sales\" is not declared"},
		{"missing classification", base + "      email: {type: email, purposes: [account]}\n", "x.yaml:6: collections.customers.fields.email.classification: required"},
		{"unknown field key", base + "      email: {type: email, classification: personal, purposes: [account], colour: red}\n", "x.yaml:6: collections.customers.fields.email: unknown key \"colour\""},
		{"bad retention", base + "      email: {type: email, classification: personal, purposes: [account], retention: 3 years}\n", "retention: a positive duration"},
		{"searchable json", base + "      blob: {type: json, classification: personal, purposes: [account], searchable: true}\n", "json fields cannot be searchable"},
		{"tokenize string", base + "      x: {type: string, classification: payment, purposes: [account], tokenize: card}\n", "card_number fields only"},
		{"cvv refused", base + "      cvv: {type: string, classification: payment, purposes: [account]}\n", "PCI DSS 4.0.1 req. 3.3.1"},
		{"bad name", base + "      Email: {type: email, classification: personal, purposes: [account]}\n", "field names are lower-case"},
		{"duplicate key", base + "      email: {type: email, classification: personal, purposes: [account]}\n      email: {type: email, classification: personal, purposes: [account]}\n", "x.yaml:7: collections.customers.fields.email: duplicate key"},
		{"role unknown collection", base + "      email: {type: email, classification: personal, purposes: [account]}\nroles:\n  r: {purposes: [account], collections: {orders: {read: {x: plain}}}}\n", "x.yaml:8: roles.r.collections.orders: collection \"orders\" is not declared"},
		{"role unknown view", base + "      email: {type: email, classification: personal, purposes: [account]}\nroles:\n  r: {purposes: [account], collections: {customers: {read: {email: blurred}}}}\n", "unknown view \"blurred\""},
		{"search non-searchable", base + "      email: {type: email, classification: personal, purposes: [account]}\nroles:\n  r: {purposes: [account], collections: {customers: {search: [email]}}}\n", "field \"email\" is not searchable"},
		{"star grant names a field", base + "      email: {type: email, classification: personal, purposes: [account]}\nroles:\n  r: {purposes: \"*\", collections: {\"*\": {read: {email: plain}}}}\n", "may only name fields as \"*\""},
		{"not yaml", "purposes: [\n", "x.yaml: not valid YAML or JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.doc))
			if err == nil || coffer.ErrorCode(err) != coffer.EINVALID || !strings.Contains(coffer.ErrorMessage(err), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func field(t coffer.FieldType) *coffer.Field { return &coffer.Field{Name: "f", Type: t} }

func TestNormalize(t *testing.T) {
	tests := []struct {
		typ        coffer.FieldType
		in         string // raw JSON
		plain, idx string // "" plain: invalid
	}{
		{coffer.TypeString, `"Jane Doe"`, `"Jane Doe"`, `Jane Doe`},
		{coffer.TypeString, `"tab\tok"`, `"tab\tok"`, "tab\tok"},
		{coffer.TypeString, `"bell\u0007"`, "", ""},
		{coffer.TypeString, `12`, "", ""},
		{coffer.TypeEmail, `"Jane.Doe@Example.COM"`, `"Jane.Doe@example.com"`, `jane.doe@example.com`},
		{coffer.TypeEmail, `" a@b.co "`, `"a@b.co"`, `a@b.co`},
		{coffer.TypeEmail, `"\"quoted local\"@example.com"`, `"\"quoted local\"@example.com"`, `"quoted local"@example.com`},
		{coffer.TypeEmail, `"user@[192.0.2.1]"`, `"user@[192.0.2.1]"`, `user@[192.0.2.1]`},
		{coffer.TypeEmail, `"no-at.example.com"`, "", ""},
		{coffer.TypeEmail, `"a..b@example.com"`, "", ""},
		{coffer.TypeEmail, `"a@localhost"`, "", ""},
		{coffer.TypeEmail, `"a@-bad.com"`, "", ""},
		{coffer.TypeEmail, `"` + strings.Repeat("a", 65) + `@example.com"`, "", ""},
		{coffer.TypePhone, `"+1 415 555 2671"`, `"+14155552671"`, `+14155552671`},
		{coffer.TypePhone, `"+44 20 7946 0958"`, `"+442079460958"`, `+442079460958`},
		{coffer.TypePhone, `"020 7946 0958"`, "", ""},
		{coffer.TypePhone, `"+1 123"`, "", ""},
		{coffer.TypeDate, `"2024-02-29"`, `"2024-02-29"`, `2024-02-29`},
		{coffer.TypeDate, `"2023-02-29"`, "", ""},
		{coffer.TypeDate, `"2024-2-9"`, "", ""},
		{coffer.TypeDate, `"0000-01-01"`, "", ""},
		{coffer.TypeCardNumber, `"4111 1111 1111 1111"`, `"4111111111111111"`, `4111111111111111`},
		{coffer.TypeCardNumber, `"4111-1111-1111-1112"`, "", ""},
		{coffer.TypeCardNumber, `"41111"`, "", ""},
		{coffer.TypeIBAN, `"de89 3704 0044 0532 0130 00"`, `"DE89370400440532013000"`, `DE89370400440532013000`},
		{coffer.TypeIBAN, `"GB82 WEST 1234 5698 7654 32"`, `"GB82WEST12345698765432"`, `GB82WEST12345698765432`},
		{coffer.TypeIBAN, `"DE88370400440532013000"`, "", ""},
		{coffer.TypeIBAN, `"DE8937040044053201300"`, "", ""},
		{coffer.TypeIBAN, `"ZZ89370400440532013000"`, "", ""},
		{coffer.TypeSSN, `"123-45-6789"`, `"123-45-6789"`, `123-45-6789`},
		{coffer.TypeSSN, `"123456789"`, `"123-45-6789"`, `123-45-6789`},
		{coffer.TypeSSN, `"666-45-6789"`, "", ""},
		{coffer.TypeSSN, `"000-45-6789"`, "", ""},
		{coffer.TypeSSN, `"912-45-6789"`, "", ""},
		{coffer.TypeSSN, `"123-00-6789"`, "", ""},
		{coffer.TypeSSN, `"123-45-0000"`, "", ""},
		{coffer.TypeSSN, `"078-05-1120"`, "", ""},
		{coffer.TypeIP, `"192.168.001.1"`, "", ""},
		{coffer.TypeIP, `"1.2.3.256"`, "", ""},
		{coffer.TypeIP, `"::ffff:10.0.0.1"`, `"10.0.0.1"`, `10.0.0.1`},
		{coffer.TypeIP, `"2001:DB8::1"`, `"2001:db8::1"`, `2001:db8::1`},
		{coffer.TypeIP, `"fe80::1%eth0"`, "", ""},
		{coffer.TypeJSON, `{"a": [1, 2]}`, `{"a":[1,2]}`, `{"a":[1,2]}`},
		{coffer.TypeInteger, `42`, `42`, `42`},
		{coffer.TypeInteger, `-7`, `-7`, `-7`},
		{coffer.TypeInteger, `1e3`, "", ""},
		{coffer.TypeInteger, `1.0`, "", ""},
		{coffer.TypeInteger, `"42"`, "", ""},
		{coffer.TypeInteger, `9223372036854775808`, "", ""},
		{coffer.TypeInteger, `007`, "", ""},
		{coffer.TypeBoolean, `true`, `true`, `true`},
		{coffer.TypeBoolean, `"true"`, "", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ)+" "+tt.in, func(t *testing.T) {
			plain, idx, err := Normalize(field(tt.typ), json.RawMessage(tt.in))
			if tt.plain == "" {
				if err == nil {
					t.Fatalf("accepted as %s", plain)
				}
				if coffer.ErrorCode(err) != coffer.EINVALID || !strings.HasPrefix(coffer.ErrorMessage(err), `field "f": `) {
					t.Fatalf("err = %v", err)
				}
				assertNoEcho(t, coffer.ErrorMessage(err), tt.in)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(plain) != tt.plain || string(idx) != tt.idx {
				t.Fatalf("got plain %s index %s, want %s %s", plain, idx, tt.plain, tt.idx)
			}
		})
	}
}

// assertNoEcho fails when msg holds any 4+ character piece of the input
// that is not part of the message's own wording.
func assertNoEcho(t *testing.T, msg, in string) {
	t.Helper()
	in = strings.Trim(in, `"`)
	for i := 0; i+4 <= len(in); i++ {
		piece := in[i : i+4]
		if strings.Contains(msg, piece) && !strings.Contains(templates, piece) {
			t.Fatalf("message %q echoes %q of the value", msg, piece)
		}
	}
}

// templates is every fixed wording an error message can use.
const templates = `field "f": must be true or false must be an integer between -2^63 and 2^63-1 written without fraction or exponent
must be a JSON value must be at most 65536 bytes must be a JSON string must be valid UTF-8 text without control characters
not a valid email address (RFC 5322 addr-spec, such as name@example.com) not a valid phone number: an international number with +, such as +14155550132
not a valid date: ISO 8601 YYYY-MM-DD not a valid card number (12 to 19 digits passing the Luhn check)
not a valid IBAN (country code, check digits and the country's length) not a valid US social security number (AAA-GG-SSSS)
not a valid IPv4 or IPv6 address has an unknown type`

// Normalizing a normalized value changes nothing.
func TestNormalizeIdempotent(t *testing.T) {
	gens := map[coffer.FieldType]*rapid.Generator[string]{
		coffer.TypeString: rapid.StringMatching(`[A-Za-z0-9 <>&'é漢-]{0,40}`),
		coffer.TypeEmail:  rapid.StringMatching(`[a-zA-Z0-9._%+-]{1,20}@[a-zA-Z0-9]{1,10}\.(com|org|DE)`),
		coffer.TypeDate: rapid.Custom(func(t *rapid.T) string {
			return "20" + rapid.StringMatching(`[0-4][0-9]-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])`).Draw(t, "d")
		}),
		coffer.TypeIP:  rapid.Custom(func(t *rapid.T) string { return rapid.StringMatching(`(1?[0-9]{1,2}\.){3}1?[0-9]{1,2}`).Draw(t, "ip") }),
		coffer.TypeSSN: rapid.StringMatching(`[1-5][0-9]{2}-[1-9][0-9]-[1-9][0-9]{3}`),
		coffer.TypeCardNumber: rapid.Custom(func(t *rapid.T) string {
			d := rapid.StringMatching(`4[0-9]{14}`).Draw(t, "pan")
			for c := '0'; c <= '9'; c++ {
				if token.Luhn(d + string(c)) {
					return d + string(c)
				}
			}
			return ""
		}),
	}
	for typ, gen := range gens {
		t.Run(string(typ), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				v := gen.Draw(rt, "v")
				raw, _ := json.Marshal(v)
				p1, i1, err := Normalize(field(typ), raw)
				if err != nil {
					if typ == coffer.TypeString || typ == coffer.TypeCardNumber || typ == coffer.TypeSSN {
						rt.Fatalf("valid %s %q refused: %v", typ, v, err)
					}
					return // generated emails/dates/ips may be invalid by chance
				}
				p2, i2, err := Normalize(field(typ), p1)
				if err != nil || string(p1) != string(p2) || string(i1) != string(i2) {
					rt.Fatalf("not idempotent: %s → %s (%v)", p1, p2, err)
				}
			})
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(shop(f))
	f.Add([]byte("purposes: {a: {legal_basis: contract}}\ncollections: {c: {fields: {x: {type: string, classification: personal, purposes: [a]}}}}"))
	f.Add([]byte(`{"purposes":{"a":{"legal_basis":"consent"}},"collections":{}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := Parse("fuzz.yaml", doc)
		if err != nil {
			if coffer.ErrorCode(err) != coffer.EINVALID {
				t.Fatalf("code %s", coffer.ErrorCode(err))
			}
			return
		}
		out, err := Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Parse("again.json", out)
		if err != nil {
			t.Fatalf("marshalled schema does not parse: %v\n%s", err, out)
		}
		if !cmp.Equal(s, s2) {
			t.Fatalf("round trip changed the schema:\n%s", cmp.Diff(s, s2))
		}
	})
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{`"a@b.co"`, `"+14155552671"`, `"2024-02-29"`, `"4111111111111111"`, `"DE89370400440532013000"`, `"123-45-6789"`, `"::1"`, `{"a":1}`, `12`, `true`} {
		f.Add(0, []byte(s))
	}
	typs := []coffer.FieldType{coffer.TypeString, coffer.TypeEmail, coffer.TypePhone, coffer.TypeDate, coffer.TypeCardNumber,
		coffer.TypeIBAN, coffer.TypeSSN, coffer.TypeIP, coffer.TypeJSON, coffer.TypeInteger, coffer.TypeBoolean}
	f.Fuzz(func(t *testing.T, ti int, raw []byte) {
		typ := typs[(ti%len(typs)+len(typs))%len(typs)]
		if !json.Valid(raw) {
			return // the API refuses invalid JSON before Normalize
		}
		p, _, err := Normalize(field(typ), raw)
		if err != nil {
			var s string
			if json.Unmarshal(raw, &s) == nil && len(s) >= 6 && strings.Contains(coffer.ErrorMessage(err), s) && !strings.Contains(templates, s) {
				t.Fatalf("error echoes the value: %v", err)
			}
			return
		}
		p2, _, err := Normalize(field(typ), p)
		if err != nil || string(p2) != string(p) {
			t.Fatalf("%s: %s normalizes to %s, then %s (%v)", typ, raw, p, p2, err)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	for _, c := range []struct {
		typ coffer.FieldType
		v   string
	}{{coffer.TypeString, `"Jane Doe"`}, {coffer.TypeEmail, `"Jane.Doe@Example.com"`}, {coffer.TypePhone, `"+1 415 555 2671"`},
		{coffer.TypeDate, `"1984-05-17"`}, {coffer.TypeCardNumber, `"4111 1111 1111 1111"`}, {coffer.TypeIBAN, `"DE89370400440532013000"`}} {
		b.Run(string(c.typ), func(b *testing.B) {
			f := field(c.typ)
			for b.Loop() {
				if _, _, err := Normalize(f, json.RawMessage(c.v)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
