package policy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhq/coffer"
)

// testSchema mirrors examples/shop.yaml, built by hand so that this
// package's tests do not depend on the schema parser.
func testSchema() *coffer.Schema {
	f := func(name string, purposes ...string) *coffer.Field {
		return &coffer.Field{Name: name, Type: coffer.TypeString, Classification: coffer.Personal, Purposes: purposes}
	}
	customers := &coffer.Collection{Name: "customers", Fields: map[string]*coffer.Field{
		"email":     f("email", "account", "support", "marketing"),
		"name":      f("name", "account", "support", "billing"),
		"phone":     f("phone", "account", "support"),
		"birthdate": f("birthdate", "account"),
	}, Order: []string{"email", "name", "phone", "birthdate"}}
	customers.Fields["email"].Searchable = true
	customers.Fields["phone"].Searchable = true
	return &coffer.Schema{
		Purposes: map[string]*coffer.Purpose{
			"account":   {Name: "account", LegalBasis: coffer.BasisContract},
			"support":   {Name: "support", LegalBasis: coffer.BasisLegitimateInterests},
			"billing":   {Name: "billing", LegalBasis: coffer.BasisContract},
			"marketing": {Name: "marketing", LegalBasis: coffer.BasisConsent},
			"tax":       {Name: "tax", LegalBasis: coffer.BasisLegalObligation},
		},
		Collections: map[string]*coffer.Collection{"customers": customers},
		Roles: map[string]*coffer.Role{
			"admin": {Name: "admin", AllPurposes: true, Admin: true, Collections: map[string]*coffer.Grant{
				"*": {Read: map[string]coffer.View{"*": coffer.ViewPlain}, Write: []string{"*"}, Search: []string{"*"}, Delete: true}}},
			"support": {Name: "support", Purposes: []string{"support"}, Collections: map[string]*coffer.Grant{
				"customers": {Read: map[string]coffer.View{"name": coffer.ViewPlain, "email": coffer.ViewMasked, "phone": coffer.ViewMasked}, Search: []string{"email", "phone"}}}},
			"auditor": {Name: "auditor", Purposes: []string{"tax", "account"}, Collections: map[string]*coffer.Grant{
				"customers": {Read: map[string]coffer.View{"*": coffer.ViewNone, "name": coffer.ViewPlain}}}},
		},
	}
}

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func actor(role string) *coffer.Actor {
	s := testSchema()
	return &coffer.Actor{ID: "key_x", Kind: coffer.ActorAPIKey, RoleName: role, Role: s.Roles[role], ClientIP: netip.MustParseAddr("10.1.2.3")}
}

var all = []string{"email", "name", "phone", "birthdate"}

func TestDecideRead(t *testing.T) {
	granted := func(string) bool { return true }
	tests := []struct {
		name       string
		role       string
		purpose    string
		consent    func(string) bool
		restricted bool
		mod        func(*coffer.Actor)
		wantCode   string
		wantViews  []coffer.View
		wantHeld   []string
	}{
		{name: "admin account sees all plain", role: "admin", purpose: "account",
			wantViews: []coffer.View{"plain", "plain", "plain", "plain"}},
		{name: "admin support: birthdate not collected for support", role: "admin", purpose: "support",
			wantViews: []coffer.View{"plain", "plain", "plain", ""}, wantHeld: []string{"birthdate"}},
		{name: "admin billing: only name", role: "admin", purpose: "billing",
			wantViews: []coffer.View{"", "plain", "", ""}, wantHeld: []string{"email", "phone", "birthdate"}},
		{name: "support role masked views", role: "support", purpose: "support",
			wantViews: []coffer.View{"masked", "plain", "masked", ""}, wantHeld: []string{"birthdate"}},
		{name: "support role outside its purposes", role: "support", purpose: "account", wantCode: coffer.EFORBIDDEN},
		{name: "missing purpose", role: "admin", purpose: "", wantCode: coffer.EPURPOSE},
		{name: "unknown purpose", role: "admin", purpose: "fun", wantCode: coffer.EINVALID},
		{name: "consent purpose without consent store fails closed", role: "admin", purpose: "marketing", wantCode: coffer.EFORBIDDEN},
		{name: "consent purpose, consent withdrawn", role: "admin", purpose: "marketing", consent: func(string) bool { return false }, wantCode: coffer.EFORBIDDEN},
		{name: "consent purpose, consent given", role: "admin", purpose: "marketing", consent: granted,
			wantViews: []coffer.View{"plain", "", "", ""}, wantHeld: []string{"name", "phone", "birthdate"}},
		{name: "restricted subject refused", role: "admin", purpose: "account", restricted: true, wantCode: coffer.EFORBIDDEN},
		{name: "restricted subject, legal obligation: nothing collected for tax", role: "admin", purpose: "tax", restricted: true, wantCode: coffer.EFORBIDDEN},
		{name: "view none withholds", role: "auditor", purpose: "account",
			wantViews: []coffer.View{"", "plain", "", ""}, wantHeld: []string{"email", "phone", "birthdate"}},
		{name: "locked actor", role: "admin", purpose: "account", mod: func(a *coffer.Actor) { a.Locked = true }, wantCode: coffer.EFORBIDDEN},
		{name: "expired key", role: "admin", purpose: "account", mod: func(a *coffer.Actor) { a.ExpiresAt = now }, wantCode: coffer.EFORBIDDEN},
		{name: "key not yet expired", role: "admin", purpose: "account", mod: func(a *coffer.Actor) { a.ExpiresAt = now.Add(time.Second) },
			wantViews: []coffer.View{"plain", "plain", "plain", "plain"}},
		{name: "outside allowed CIDRs", role: "admin", purpose: "account",
			mod: func(a *coffer.Actor) { a.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")} }, wantCode: coffer.EFORBIDDEN},
		{name: "inside allowed CIDRs", role: "admin", purpose: "account",
			mod:       func(a *coffer.Actor) { a.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} },
			wantViews: []coffer.View{"plain", "plain", "plain", "plain"}},
		{name: "operator without MFA", role: "admin", purpose: "account",
			mod: func(a *coffer.Actor) { a.Kind = coffer.ActorOperator; a.PolicyAcked = true }, wantCode: coffer.EFORBIDDEN},
		{name: "operator without policy acknowledgement", role: "admin", purpose: "account",
			mod: func(a *coffer.Actor) { a.Kind = coffer.ActorOperator; a.MFAEnrolled = true }, wantCode: coffer.EFORBIDDEN},
		{name: "operator with MFA and policy", role: "admin", purpose: "account",
			mod:       func(a *coffer.Actor) { a.Kind = coffer.ActorOperator; a.MFAEnrolled, a.PolicyAcked = true, true },
			wantViews: []coffer.View{"plain", "plain", "plain", "plain"}},
		{name: "role missing from the schema", role: "ghost", purpose: "account", wantCode: coffer.EFORBIDDEN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := actor(tt.role)
			if tt.mod != nil {
				tt.mod(a)
			}
			d := Decide(&Request{Schema: testSchema(), Actor: a, Action: Read, Purpose: tt.purpose, Collection: "customers",
				Fields: all, Now: now, Consent: tt.consent, Restricted: tt.restricted})
			if tt.wantCode != "" {
				if d.Allowed || d.Code != tt.wantCode || d.Reason == "" {
					t.Fatalf("got allowed=%v code=%q reason=%q, want refusal %q with a reason", d.Allowed, d.Code, d.Reason, tt.wantCode)
				}
				return
			}
			if !d.Allowed {
				t.Fatalf("refused: %s %s", d.Code, d.Reason)
			}
			if diff := cmp.Diff(tt.wantViews, d.Views); diff != "" {
				t.Errorf("views (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantHeld, d.Withheld); diff != "" {
				t.Errorf("withheld (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecideMatrix checks every role × purpose × field × consent ×
// restriction combination against the rule written out directly.
func TestDecideMatrix(t *testing.T) {
	s := testSchema()
	for roleName, role := range s.Roles {
		for purpose, p := range s.Purposes {
			for _, consent := range []bool{false, true} {
				for _, restricted := range []bool{false, true} {
					d := Decide(&Request{Schema: s, Actor: actor(roleName), Action: Read, Purpose: purpose, Collection: "customers",
						Fields: all, Now: now, Consent: func(string) bool { return consent }, Restricted: restricted})
					gate := role.HasPurpose(purpose) && (p.LegalBasis != coffer.BasisConsent || consent) &&
						(!restricted || p.LegalBasis == coffer.BasisLegalObligation)
					anyField := false
					for i, fname := range all {
						f := s.Collections["customers"].Fields[fname]
						v := role.Grant("customers").ReadView(fname)
						want := coffer.View("")
						if gate && v != "" && v != coffer.ViewNone && f.HasPurpose(purpose) {
							want = v
							anyField = true
						}
						if d.Allowed && d.Views[i] != want {
							t.Errorf("%s/%s consent=%v restricted=%v %s: view %q, want %q", roleName, purpose, consent, restricted, fname, d.Views[i], want)
						}
					}
					if d.Allowed != anyField {
						t.Errorf("%s/%s consent=%v restricted=%v: allowed=%v, want %v (%s)", roleName, purpose, consent, restricted, d.Allowed, anyField, d.Reason)
					}
				}
			}
		}
	}
}

func TestDecideWriteSearchDelete(t *testing.T) {
	tests := []struct {
		name, role, action, purpose string
		fields                      []string
		wantCode                    string
	}{
		{"admin writes account fields", "admin", Write, "account", []string{"email", "birthdate"}, ""},
		{"admin writes a field not collected for the purpose", "admin", Write, "support", []string{"birthdate"}, coffer.EFORBIDDEN},
		{"support may not write", "support", Write, "support", []string{"name"}, coffer.EFORBIDDEN},
		{"undeclared field", "admin", Write, "account", []string{"shoe_size"}, coffer.ESCHEMA},
		{"support searches email", "support", Search, "support", []string{"email"}, ""},
		{"search on a non-searchable field", "admin", Search, "account", []string{"name"}, coffer.EINVALID},
		{"support may not search name", "support", Search, "support", []string{"name"}, coffer.EFORBIDDEN},
		{"admin deletes", "admin", Delete, "account", nil, ""},
		{"support may not delete", "support", Delete, "support", nil, coffer.EFORBIDDEN},
		{"delete needs a purpose", "admin", Delete, "", nil, coffer.EPURPOSE},
		{"admin action for admin", "admin", Admin, "", nil, ""},
		{"admin action for support", "support", Admin, "", nil, coffer.EFORBIDDEN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(&Request{Schema: testSchema(), Actor: actor(tt.role), Action: tt.action, Purpose: tt.purpose, Collection: "customers", Fields: tt.fields, Now: now})
			if tt.wantCode == "" && !d.Allowed {
				t.Fatalf("refused: %s %s", d.Code, d.Reason)
			}
			if tt.wantCode != "" && (d.Allowed || d.Code != tt.wantCode) {
				t.Fatalf("got allowed=%v code=%q, want %q", d.Allowed, d.Code, tt.wantCode)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ mask, in, want string }{
		{"email", "john@example.com", "j***@e******.com"},
		{"email", "a@b.io", "a@b.io"},
		{"email", "not-an-email", "[REDACTED]"},
		{"last4", "+4915112340123", "**********0123"},
		{"last4", "123", "***"},
		{"pan", "4111111111111111", "411111******1111"},
		{"pan", "378282246310005", "378282*****0005"},
		{"initials", "John Ronald Doe", "J. R. D."},
		{"initials", "  ", "[REDACTED]"},
		{"year", "1984-05-17", "1984-**-**"},
		{"year", "bad", "[REDACTED]"},
		{"redact", "anything", "[REDACTED]"},
		{"", "anything", "[REDACTED]"},
		{"typo", "anything", "[REDACTED]"},
	}
	for _, tt := range tests {
		if got := Mask(tt.mask, tt.in); got != tt.want {
			t.Errorf("Mask(%q, %q) = %q, want %q", tt.mask, tt.in, got, tt.want)
		}
	}
}

func BenchmarkDecideRead5Fields(b *testing.B) {
	s := testSchema()
	s.Collections["customers"].Fields["address"] = &coffer.Field{Name: "address", Purposes: []string{"account"}}
	r := &Request{Schema: s, Actor: actor("support"), Action: Read, Purpose: "support", Collection: "customers",
		Fields: []string{"email", "name", "phone", "birthdate", "address"}, Now: now}
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(r); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}

func TestDecideTokens(t *testing.T) {
	s := testSchema()
	s.Roles["billing"] = &coffer.Role{Name: "billing", Purposes: []string{"billing", "marketing"}, Tokenize: []string{"cards"}, Detokenize: []string{"cards"},
		Collections: map[string]*coffer.Grant{"customers": {Read: map[string]coffer.View{"name": coffer.ViewToken}, Detokenize: []string{"name", "email"}}}}
	s.Roles["minter"] = &coffer.Role{Name: "minter", Purposes: []string{"billing"}, Tokenize: []string{"*"}}
	yes := func(string) bool { return true }
	tests := []struct {
		name, role, action, purpose, ns string
		consent                         func(string) bool
		restricted                      bool
		wantCode                        string
	}{
		{"tokenize in a listed namespace", "billing", Tokenize, "", "cards", nil, false, ""},
		{"tokenize elsewhere", "billing", Tokenize, "", "default", nil, false, coffer.EFORBIDDEN},
		{"tokenize anywhere with *", "minter", Tokenize, "", "default", nil, false, ""},
		{"record tokens are not minted directly", "minter", Tokenize, "", "customers.name", nil, false, coffer.EFORBIDDEN},
		{"admin without tokens lists", "admin", Tokenize, "", "cards", nil, false, coffer.EFORBIDDEN},
		{"detokenize with a purpose", "billing", Detokenize, "billing", "cards", nil, false, ""},
		{"detokenize needs a purpose", "billing", Detokenize, "", "cards", nil, false, coffer.EPURPOSE},
		{"detokenize for a purpose of another role", "billing", Detokenize, "support", "cards", nil, false, coffer.EFORBIDDEN},
		{"detokenize for an unknown purpose", "billing", Detokenize, "vibes", "cards", nil, false, coffer.EINVALID},
		{"tokenize-only role may not detokenize", "minter", Detokenize, "billing", "default", nil, false, coffer.EFORBIDDEN},
		{"record token with the field's grant", "billing", Detokenize, "billing", "customers.name", nil, false, ""},
		{"record token without the field's grant", "billing", Detokenize, "billing", "customers.phone", nil, false, coffer.EFORBIDDEN},
		{"record token for a purpose the field lacks", "billing", Detokenize, "billing", "customers.email", nil, false, coffer.EFORBIDDEN},
		{"record token, consent purpose, no consent", "billing", Detokenize, "marketing", "customers.email", nil, false, coffer.EFORBIDDEN},
		{"record token, consent purpose, consent", "billing", Detokenize, "marketing", "customers.email", yes, false, ""},
		{"record token of a restricted subject", "billing", Detokenize, "billing", "customers.name", nil, true, coffer.EFORBIDDEN},
		{"revoke with tokenize rights", "minter", RevokeToken, "", "cards", nil, false, ""},
		{"revoke with detokenize rights", "billing", RevokeToken, "", "cards", nil, false, ""},
		{"revoke without rights", "support", RevokeToken, "", "cards", nil, false, coffer.EFORBIDDEN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := actor(tt.role)
			a.Role = s.Roles[tt.role]
			d := Decide(&Request{Schema: s, Actor: a, Action: tt.action, Purpose: tt.purpose, Namespace: tt.ns, Consent: tt.consent, Restricted: tt.restricted, Now: now})
			if tt.wantCode == "" && !d.Allowed {
				t.Fatalf("refused: %s %s", d.Code, d.Reason)
			}
			if tt.wantCode != "" && (d.Allowed || d.Code != tt.wantCode) {
				t.Fatalf("got allowed=%v code=%q (%s), want %q", d.Allowed, d.Code, d.Reason, tt.wantCode)
			}
		})
	}
	// The actor rules come first for token actions too.
	locked := actor("billing")
	locked.Role, locked.Locked = s.Roles["billing"], true
	if d := Decide(&Request{Schema: s, Actor: locked, Action: Tokenize, Namespace: "cards", Now: now}); d.Allowed {
		t.Error("a locked actor tokenized")
	}
}

// TestDecisionCodes: every refusal carries one of the codes Decision.Code
// documents, and the two that are not about rights come out as documented.
func TestDecisionCodes(t *testing.T) {
	s := testSchema()
	tests := []struct {
		name string
		r    Request
		want string
	}{
		{"no actor", Request{Schema: s, Action: Read, Collection: "customers", Fields: all, Purpose: "account", Now: now}, coffer.EUNAUTHENTICATED},
		{"unknown collection", Request{Schema: s, Actor: actor("admin"), Action: Read, Collection: "ghosts", Fields: all, Purpose: "account", Now: now}, coffer.ENOTFOUND},
		{"unknown purpose", Request{Schema: s, Actor: actor("admin"), Action: Read, Collection: "customers", Fields: all, Purpose: "ghost", Now: now}, coffer.EINVALID},
		{"not an admin", Request{Schema: s, Actor: actor("support"), Action: Admin, Now: now}, coffer.EFORBIDDEN},
	}
	documented := map[string]bool{coffer.EUNAUTHENTICATED: true, coffer.EFORBIDDEN: true, coffer.EPURPOSE: true, coffer.EINVALID: true,
		coffer.ESCHEMA: true, coffer.ENOTFOUND: true}
	for _, tt := range tests {
		d := Decide(&tt.r)
		if d.Allowed || d.Code != tt.want || !documented[d.Code] {
			t.Errorf("%s: allowed %v, code %q, want %q", tt.name, d.Allowed, d.Code, tt.want)
		}
	}
}
