package policy

import (
	"testing"

	"github.com/cofferhq/coffer"
)

// State refusals (consent, restriction) are marked so that reads can
// answer them like an unknown record; grant refusals are not (SPEC §3).
func TestDecisionMarksStateRefusals(t *testing.T) {
	s := testSchema()
	for _, c := range []struct {
		name       string
		role       string
		purpose    string
		restricted bool
		consent    func(string) bool
		state      bool
	}{
		{"restricted", "admin", "account", true, nil, true},
		{"consent missing", "admin", "marketing", false, nil, true},
		{"purpose not the role's", "support", "account", false, nil, false},
	} {
		d := Decide(&Request{Schema: s, Actor: actor(c.role), Action: Read, Purpose: c.purpose, Collection: "customers", Fields: all,
			Restricted: c.restricted, Consent: c.consent, Now: now})
		if d.Allowed || d.State != c.state {
			t.Errorf("%s: allowed %v state %v, want refused with state %v", c.name, d.Allowed, d.State, c.state)
		}
	}
	// AnyState decides the grants alone.
	if d := Decide(&Request{Schema: s, Actor: actor("admin"), Action: Search, Purpose: "marketing", Collection: "customers", Fields: []string{"email"}, Consent: AnyState, Now: now}); !d.Allowed {
		t.Errorf("marketing search on grants alone: %+v", d)
	}
}

// Deterministic tokens and FPE encryption need the detokenize right.
func TestDeterministicNeedsDetokenize(t *testing.T) {
	s := testSchema()
	s.Roles["tok"] = &coffer.Role{Name: "tok", AllPurposes: true, Tokenize: []string{"cards"}}
	s.Roles["both"] = &coffer.Role{Name: "both", AllPurposes: true, Tokenize: []string{"cards"}, Detokenize: []string{"cards"}}
	a := func(role string) *coffer.Actor {
		return &coffer.Actor{Kind: coffer.ActorAPIKey, RoleName: role, Role: s.Roles[role]}
	}
	for _, c := range []struct {
		role          string
		deterministic bool
		want          bool
	}{{"tok", false, true}, {"tok", true, false}, {"both", true, true}} {
		d := Decide(&Request{Schema: s, Actor: a(c.role), Action: Tokenize, Namespace: "cards", Deterministic: c.deterministic, Now: now})
		if d.Allowed != c.want {
			t.Errorf("%s deterministic=%v: %+v", c.role, c.deterministic, d)
		}
	}
	// Before any token is looked up: a detokenize grant somewhere.
	if d := Decide(&Request{Schema: s, Actor: a("tok"), Action: Detokenize, Purpose: "account", Now: now}); d.Allowed || d.Code != coffer.EFORBIDDEN {
		t.Errorf("tokenize-only role passed the detokenize pre-check: %+v", d)
	}
	if d := Decide(&Request{Schema: s, Actor: a("both"), Action: Detokenize, Purpose: "account", Now: now}); !d.Allowed {
		t.Errorf("detokenizing role refused the pre-check: %+v", d)
	}
}

func TestExportView(t *testing.T) {
	card := &coffer.Field{Name: "card_number", Tokenize: "card"}
	plainRole := &coffer.Role{Name: "a", Collections: map[string]*coffer.Grant{"*": {}}}
	detok := &coffer.Role{Name: "b", Collections: map[string]*coffer.Grant{"payment_methods": {Detokenize: []string{"card_number"}}}}
	if v := ExportView(plainRole, "payment_methods", card); v != coffer.ViewMasked {
		t.Errorf("no detokenize: %s", v)
	}
	if v := ExportView(detok, "payment_methods", card); v != coffer.ViewPlain {
		t.Errorf("detokenize: %s", v)
	}
	if v := ExportView(nil, "payment_methods", card); v != coffer.ViewMasked {
		t.Errorf("no role: %s", v)
	}
	if v := ExportView(plainRole, "customers", &coffer.Field{Name: "email"}); v != coffer.ViewPlain {
		t.Errorf("untokenized: %s", v)
	}
}
