package schema

import (
	"os"
	"strings"
	"testing"
)

// A role may carry consents: true (SPEC §2); it survives a round trip.
func TestRoleConsentsGrant(t *testing.T) {
	b, err := os.ReadFile("../../examples/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), "roles:\n", "roles:\n  signup: {purposes: [account], consents: true, collections: {customers: {write: [\"*\"]}}}\n", 1)
	s, err := Parse("t.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Roles["signup"].Consents || s.Roles["admin"].Consents {
		t.Fatalf("consents grant: signup %v, admin %v", s.Roles["signup"].Consents, s.Roles["admin"].Consents)
	}
	out, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("again", out)
	if err != nil || !again.Roles["signup"].Consents {
		t.Fatalf("round trip lost the consents grant: %v", err)
	}
	if _, err := Parse("bad", []byte(strings.Replace(doc, "consents: true", "consents: maybe", 1))); err == nil {
		t.Error("consents: maybe was accepted")
	}
}
