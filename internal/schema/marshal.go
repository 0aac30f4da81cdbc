package schema

import (
	"encoding/json"
	"slices"

	"github.com/cofferhq/coffer"
)

// The document shape, for rendering. Parsing goes through yaml.Node for
// line numbers; rendering only needs these.
type (
	docPurpose struct {
		LegalBasis    string `json:"legal_basis"`
		Description   string `json:"description,omitempty"`
		SaleOrSharing bool   `json:"sale_or_sharing,omitempty"`
	}
	docField struct {
		Type           coffer.FieldType      `json:"type"`
		Classification coffer.Classification `json:"classification"`
		Purposes       []string              `json:"purposes"`
		Searchable     bool                  `json:"searchable,omitempty"`
		Mask           string                `json:"mask,omitempty"`
		Tokenize       string                `json:"tokenize,omitempty"`
		Retention      string                `json:"retention,omitempty"`
		Required       bool                  `json:"required,omitempty"`
	}
	docCollection struct {
		Retention string        `json:"retention,omitempty"`
		Fields    orderedFields `json:"fields"`
	}
	docGrant struct {
		Read       map[string]coffer.View `json:"read,omitempty"`
		Write      []string               `json:"write,omitempty"`
		Search     []string               `json:"search,omitempty"`
		Delete     bool                   `json:"delete,omitempty"`
		Detokenize []string               `json:"detokenize,omitempty"`
	}
	docRole struct {
		Purposes    any                  `json:"purposes"`
		Admin       bool                 `json:"admin,omitempty"`
		Consents    bool                 `json:"consents,omitempty"`
		Metrics     bool                 `json:"metrics,omitempty"`
		Collections map[string]*docGrant `json:"collections,omitempty"`
		Tokens      *docTokens           `json:"tokens,omitempty"`
	}
	docTokens struct {
		Tokenize   []string `json:"tokenize,omitempty"`
		Detokenize []string `json:"detokenize,omitempty"`
	}
	document struct {
		Purposes    map[string]docPurpose    `json:"purposes"`
		Collections map[string]docCollection `json:"collections"`
		Roles       map[string]docRole       `json:"roles,omitempty"`
	}
)

// orderedFields keeps the declaration order of fields in JSON.
type orderedFields struct {
	order  []string
	fields map[string]docField
}

func (o orderedFields) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, name := range o.order {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(name)
		v, err := json.Marshal(o.fields[name])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// Marshal renders a schema as a JSON document in the file format, so that
// Parse(Marshal(s)) yields an equal schema.
func Marshal(s *coffer.Schema) ([]byte, error) {
	d := document{Purposes: map[string]docPurpose{}, Collections: map[string]docCollection{}, Roles: map[string]docRole{}}
	for n, p := range s.Purposes {
		d.Purposes[n] = docPurpose{LegalBasis: p.LegalBasis, Description: p.Description, SaleOrSharing: p.SaleOrSharing}
	}
	for n, c := range s.Collections {
		dc := docCollection{Fields: orderedFields{order: c.Order, fields: map[string]docField{}}}
		if c.Retention > 0 {
			dc.Retention = FormatRetention(c.Retention)
		}
		for _, fn := range c.Order {
			f := c.Fields[fn]
			df := docField{Type: f.Type, Classification: f.Classification, Purposes: slices.Clone(f.Purposes), Searchable: f.Searchable,
				Mask: f.Mask, Tokenize: f.Tokenize, Required: f.Required}
			if f.Retention > 0 {
				df.Retention = FormatRetention(f.Retention)
			}
			dc.Fields.fields[fn] = df
		}
		d.Collections[n] = dc
	}
	for n, r := range s.Roles {
		dr := docRole{Admin: r.Admin, Consents: r.Consents, Metrics: r.Metrics, Collections: map[string]*docGrant{}}
		if r.Tokenize != nil || r.Detokenize != nil {
			dr.Tokens = &docTokens{Tokenize: r.Tokenize, Detokenize: r.Detokenize}
		}
		if r.AllPurposes {
			dr.Purposes = "*"
		} else {
			dr.Purposes = r.Purposes
			if r.Purposes == nil {
				dr.Purposes = []string{}
			}
		}
		for cn, g := range r.Collections {
			dr.Collections[cn] = &docGrant{Read: g.Read, Write: g.Write, Search: g.Search, Delete: g.Delete, Detokenize: g.Detokenize}
		}
		d.Roles[n] = dr
	}
	return json.MarshalIndent(d, "", "  ")
}
