package coffer

import "time"

// FieldType is the declared type of a field; it decides validation and
// normalization (internal/schema).
type FieldType string

const (
	TypeString     FieldType = "string"
	TypeEmail      FieldType = "email"
	TypePhone      FieldType = "phone"
	TypeDate       FieldType = "date"
	TypeCardNumber FieldType = "card_number"
	TypeIBAN       FieldType = "iban"
	TypeSSN        FieldType = "ssn"
	TypeIP         FieldType = "ip"
	TypeJSON       FieldType = "json"
	TypeInteger    FieldType = "integer"
	TypeBoolean    FieldType = "boolean"
)

// Classification says how sensitive a field is.
type Classification string

const (
	Personal  Classification = "personal"
	Sensitive Classification = "sensitive"
	Payment   Classification = "payment"
)

// Legal bases of GDPR Art. 6(1).
const (
	BasisConsent             = "consent"
	BasisContract            = "contract"
	BasisLegalObligation     = "legal_obligation"
	BasisVitalInterests      = "vital_interests"
	BasisPublicTask          = "public_task"
	BasisLegitimateInterests = "legitimate_interests"
)

// View is how a field is shown to a role.
type View string

const (
	ViewPlain  View = "plain"
	ViewMasked View = "masked"
	ViewToken  View = "token"
	ViewNone   View = "none"
)

// Schema is the declared data model: purposes, collections and roles.
// A Schema is immutable once loaded; changing it means loading a new one.
type Schema struct {
	Purposes    map[string]*Purpose
	Collections map[string]*Collection
	Roles       map[string]*Role
}

// Purpose is a reason to use data, with its legal basis.
type Purpose struct {
	Name        string
	LegalBasis  string
	Description string
	// SaleOrSharing marks a purpose that sells or shares personal data
	// (CCPA §1798.120): a Global Privacy Control signal or an opt-out
	// request withdraws consent to all of them.
	SaleOrSharing bool
}

// Collection is a declared set of fields.
type Collection struct {
	Name      string
	Retention time.Duration // 0: none
	Fields    map[string]*Field
	Order     []string // field names in declaration order
}

// Field is one declared field of a collection.
type Field struct {
	Name           string
	Type           FieldType
	Classification Classification
	Purposes       []string
	Searchable     bool
	Mask           string // email, last4, pan, initials, year, redact; "" = redact
	Tokenize       string // "" or "card"
	Retention      time.Duration
	Required       bool
}

// HasPurpose reports whether p is one of the field's purposes.
func (f *Field) HasPurpose(p string) bool {
	for _, q := range f.Purposes {
		if q == p {
			return true
		}
	}
	return false
}

// Role says which actions on which fields, in which view, for which purposes.
type Role struct {
	Name        string
	AllPurposes bool     // purposes: "*"
	Purposes    []string // when not AllPurposes
	Admin       bool
	// Metrics: the role may read the server's Prometheus metrics
	// (GET /metrics); admin does not imply it.
	Metrics     bool
	Collections map[string]*Grant // key "*" applies to every collection
	// Tokenize and Detokenize name the token namespaces (and FPE keys) the
	// role may tokenize into and detokenize from; "*" is every one.
	// Tokens of a record field (namespace collection.field) follow the
	// collection grant's Detokenize instead.
	Tokenize   []string
	Detokenize []string
	// Consents lets the role record a subject's consent with the data it
	// creates (a create's "consents").
	Consents bool
}

// HasPurpose reports whether the role may act for purpose p.
func (r *Role) HasPurpose(p string) bool {
	if r.AllPurposes {
		return true
	}
	for _, q := range r.Purposes {
		if q == p {
			return true
		}
	}
	return false
}

// Grant lists what a role may do in one collection. Field keys may be "*".
type Grant struct {
	Read       map[string]View
	Write      []string
	Search     []string
	Delete     bool
	Detokenize []string
}

// Grant returns the role's grant for collection c, falling back to "*".
func (r *Role) Grant(c string) *Grant {
	if g, ok := r.Collections[c]; ok {
		return g
	}
	return r.Collections["*"]
}

// ReadView returns the view the grant gives on field f ("" when none).
func (g *Grant) ReadView(f string) View {
	if g == nil {
		return ""
	}
	if v, ok := g.Read[f]; ok {
		return v
	}
	return g.Read["*"]
}

// CanWrite reports whether the grant allows writing field f.
func (g *Grant) CanWrite(f string) bool { return g != nil && listHas(g.Write, f) }

// CanSearch reports whether the grant allows searching on field f.
func (g *Grant) CanSearch(f string) bool { return g != nil && listHas(g.Search, f) }

// CanDetokenize reports whether the grant reveals field f's tokenized
// value in plain.
func (g *Grant) CanDetokenize(f string) bool { return g != nil && listHas(g.Detokenize, f) }

func listHas(list []string, s string) bool {
	for _, x := range list {
		if x == s || x == "*" {
			return true
		}
	}
	return false
}
