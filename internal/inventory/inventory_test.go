package inventory

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func load(t *testing.T) *Inventory {
	t.Helper()
	inv, err := Load("testdata/inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func TestOutputs(t *testing.T) {
	inv := load(t)
	rec := inv.Record()
	for name, write := range map[string]func(*bytes.Buffer) error{
		"ropa.md":     func(b *bytes.Buffer) error { return rec.WriteMarkdown(b) },
		"ropa.csv":    func(b *bytes.Buffer) error { return rec.WriteCSV(b) },
		"ropa.json":   func(b *bytes.Buffer) error { return rec.WriteJSON(b) },
		"notice.html": func(b *bytes.Buffer) error { return inv.WriteNotice(b) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(name, err)
		}
		golden(t, name, b.Bytes())
	}
}

// TestRecordContent checks Art. 30(1)(a)–(g) are all present, whatever the
// golden files say.
func TestRecordContent(t *testing.T) {
	var b bytes.Buffer
	load(t).Record().WriteMarkdown(&b)
	md := b.String()
	for _, want := range []string{"Example Shop GmbH", "dpo@shop.example", "Purpose (b)", "Data subjects (c)",
		"Allergy information (special category, Art. 9)", "Zendesk Inc. (processor, USA)",
		"Newsletter service to USA: Standard contractual clauses (Art. 46(2)(c))", "Retention (f)", "## Security measures (g)",
		"Cross-cut shredding", "Locked cabinet, room 2.14", "Legitimate interests (Art. 6(1)(f)): keeping the shop"} {
		if !strings.Contains(md, want) {
			t.Errorf("record lacks %q", want)
		}
	}
}

func TestNotice(t *testing.T) {
	inv := load(t)
	inv.Controller.Name = `<script>alert(1)</script> & Co`
	var b bytes.Buffer
	if err := inv.WriteNotice(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if strings.Contains(html, "<script>") {
		t.Error("notice does not escape the inventory's text")
	}
	for _, want := range []string{"withdraw it at any time", "supervisory authority: Berliner", "https://shop.example/privacy/requests",
		"Order processing", "10 years after the invoice date"} {
		if !strings.Contains(html, want) {
			t.Errorf("notice lacks %q", want)
		}
	}
	// Internal details stay out of the public notice.
	for _, secret := range []string{"room 2.14", "db.internal", "Head of accounting"} {
		if strings.Contains(html, secret) {
			t.Errorf("notice shows %q", secret)
		}
	}
}

func TestValidate(t *testing.T) {
	src, _ := os.ReadFile("testdata/inventory.yaml")
	tests := []struct {
		name, from, to, want string
	}{
		{"unknown key", "measures:", "measure_list: []\nmeasures:", "field measure_list not found"},
		{"paper archive without destruction", "    destruction: Cross-cut shredding (DIN 66399 P-4) by a certified contractor, with a certificate\n", "", "a paper archive needs location, custodian and destruction"},
		{"legal basis", "legal_basis: contract", "legal_basis: because", `legal_basis "because"`},
		{"legitimate interest unstated", "    legitimate_interest: keeping the shop and customers' accounts safe\n", "", "state the legitimate_interest"},
		{"unknown category", "categories: [online]\n    subjects", "categories: [online, biometrics]\n    subjects", `unknown category "biometrics"`},
		{"safeguard", "safeguard: scc", "safeguard: trust", `safeguard "trust"`},
		{"retention", "    retention: until consent is withdrawn\n", "", "retention is required"},
		{"detects", "detects: [ipv4, ipv6]", "detects: [ip]", `unknown entity "ip"`},
		{"paper fields", "    custodian: Head of accounting\n", "", "needs location, custodian and destruction"},
	}
	for _, tc := range tests {
		s := string(src)
		if !strings.Contains(s, tc.from) {
			t.Fatalf("%s: %q not in the file", tc.name, tc.from)
		}
		_, err := Parse([]byte(strings.Replace(s, tc.from, tc.to, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestDeclares(t *testing.T) {
	inv := load(t)
	tests := []struct {
		place  Place
		entity string
		want   bool
	}{
		{Place{Path: "/var/log/shop/app.log"}, "ipv4", true},
		{Place{Path: "/var/log/shop/2024/app.log.gz"}, "ipv6", true},
		{Place{Path: "/var/log/shop/app.log"}, "email", false}, // logs are declared for online identifiers only
		{Place{Path: "logs/api.log"}, "ipv4", true},
		{Place{Path: "logs/old/api.log"}, "ipv4", false},
		{Place{Path: "/home/bob/export.csv"}, "email", false},
		{Place{Database: "postgres://db.internal:5432/shop", Table: "public.customers"}, "email", true},
		{Place{Database: "postgres://db.internal:5432/shop", Table: "public.customers"}, "ssn", false},
		{Place{Database: "postgres://db.internal:5432/shop", Table: "public.sessions"}, "email", false},
		{Place{Database: "postgres://db.internal:5432/other", Table: "public.customers"}, "email", false},
		{Place{Database: "data/shop.db", Table: "customers"}, "iban", true},
	}
	for _, tc := range tests {
		if got := inv.Declares(tc.place, tc.entity); got != tc.want {
			t.Errorf("Declares(%+v, %s) = %v, want %v", tc.place, tc.entity, got, tc.want)
		}
	}
}
