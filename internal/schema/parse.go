package schema

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cofferhq/coffer"
)

// Limits on a schema document.
const (
	MaxDocument    = 1 << 20
	MaxCollections = 256
	MaxFields      = 512
	MaxRoles       = 256
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

var (
	types = map[coffer.FieldType]bool{coffer.TypeString: true, coffer.TypeEmail: true, coffer.TypePhone: true, coffer.TypeDate: true,
		coffer.TypeCardNumber: true, coffer.TypeIBAN: true, coffer.TypeSSN: true, coffer.TypeIP: true, coffer.TypeJSON: true,
		coffer.TypeInteger: true, coffer.TypeBoolean: true}
	classifications = map[coffer.Classification]bool{coffer.Personal: true, coffer.Sensitive: true, coffer.Payment: true}
	bases           = map[string]bool{coffer.BasisConsent: true, coffer.BasisContract: true, coffer.BasisLegalObligation: true,
		coffer.BasisVitalInterests: true, coffer.BasisPublicTask: true, coffer.BasisLegitimateInterests: true}
	masks = map[string]bool{"email": true, "last4": true, "pan": true, "initials": true, "year": true, "redact": true}
	views = map[coffer.View]bool{coffer.ViewPlain: true, coffer.ViewMasked: true, coffer.ViewToken: true, coffer.ViewNone: true}
)

type parser struct {
	name string
}

func (p *parser) errf(n *yaml.Node, path, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return &coffer.Error{Code: coffer.EINVALID, Message: fmt.Sprintf("%s:%d: %s", p.name, line, msg)}
}

// pairs returns the key/value pairs of a mapping node, refusing other kinds,
// duplicate keys and keys outside allowed (nil: any key).
func (p *parser) pairs(n *yaml.Node, path string, allowed ...string) ([][2]*yaml.Node, error) {
	if n.Kind == yaml.AliasNode {
		return nil, p.errf(n, path, "aliases are not allowed")
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, path, "must be a mapping")
	}
	var out [][2]*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(k, path, "keys must be plain names")
		}
		if seen[k.Value] {
			return nil, p.errf(k, join(path, k.Value), "duplicate key")
		}
		seen[k.Value] = true
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			return nil, p.errf(k, path, "unknown key %q (expected one of %s)", k.Value, strings.Join(allowed, ", "))
		}
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (p *parser) str(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, path, "must be a string")
	}
	return n.Value, nil
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, p.errf(n, path, "must be true or false")
	}
	return n.Value == "true", nil
}

func (p *parser) list(n *yaml.Node, path string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, path, "must be a list")
	}
	return n.Content, nil
}

// ParseRetention parses "1095d", "36h" or "90m" (at most 100 years).
func ParseRetention(s string) (time.Duration, bool) {
	if len(s) < 2 || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'd':
		unit = 24 * time.Hour
	case 'h':
		unit = time.Hour
	case 'm':
		unit = time.Minute
	default:
		return 0, false
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n <= 0 || n > int64(100*366*24*time.Hour/unit) {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// FormatRetention is the inverse of ParseRetention.
func FormatRetention(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
}

// Parse loads a schema document (YAML; JSON is YAML too). name is the file
// name used in errors.
func Parse(name string, data []byte) (*coffer.Schema, error) {
	p := &parser{name: name}
	if len(data) > MaxDocument {
		return nil, p.errf(nil, "", "document larger than %d bytes", MaxDocument)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &coffer.Error{Code: coffer.EINVALID, Message: fmt.Sprintf("%s: not valid YAML or JSON: %s", name, yamlErr(err))}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil, p.errf(nil, "", "empty document")
	}
	top, err := p.pairs(root.Content[0], "", "purposes", "collections", "roles")
	if err != nil {
		return nil, err
	}
	s := &coffer.Schema{Purposes: map[string]*coffer.Purpose{}, Collections: map[string]*coffer.Collection{}, Roles: map[string]*coffer.Role{}}
	nodes := map[string]*yaml.Node{}
	for _, kv := range top {
		nodes[kv[0].Value] = kv[1]
	}
	if nodes["purposes"] == nil {
		return nil, p.errf(root.Content[0], "", "purposes: required")
	}
	if nodes["collections"] == nil {
		return nil, p.errf(root.Content[0], "", "collections: required")
	}
	if err := p.purposes(s, nodes["purposes"]); err != nil {
		return nil, err
	}
	if err := p.collections(s, nodes["collections"]); err != nil {
		return nil, err
	}
	if n := nodes["roles"]; n != nil {
		if err := p.roles(s, n); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// yamlErr shortens a YAML library error (it names a line, not content).
func yamlErr(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

func (p *parser) purposes(s *coffer.Schema, n *yaml.Node) error {
	kvs, err := p.pairs(n, "purposes")
	if err != nil {
		return err
	}
	if len(kvs) == 0 {
		return p.errf(n, "purposes", "declare at least one purpose")
	}
	for _, kv := range kvs {
		name, path := kv[0].Value, join("purposes", kv[0].Value)
		if !nameRE.MatchString(name) {
			return p.errf(kv[0], path, "purpose names are lower-case letters, digits and _")
		}
		fs, err := p.pairs(kv[1], path, "legal_basis", "description", "sale_or_sharing")
		if err != nil {
			return err
		}
		pu := &coffer.Purpose{Name: name}
		for _, f := range fs {
			if f[0].Value == "sale_or_sharing" {
				if f[1].Kind != yaml.ScalarNode || (f[1].Value != "true" && f[1].Value != "false") {
					return p.errf(f[1], join(path, "sale_or_sharing"), "true or false")
				}
				pu.SaleOrSharing = f[1].Value == "true"
				continue
			}
			v, err := p.str(f[1], join(path, f[0].Value))
			if err != nil {
				return err
			}
			switch f[0].Value {
			case "legal_basis":
				if !bases[v] {
					return p.errf(f[1], join(path, "legal_basis"), "%q is not a GDPR Art. 6 legal basis (consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests)", v)
				}
				pu.LegalBasis = v
			case "description":
				pu.Description = v
			}
		}
		if pu.LegalBasis == "" {
			return p.errf(kv[1], join(path, "legal_basis"), "required")
		}
		s.Purposes[name] = pu
	}
	return nil
}

func (p *parser) retention(n *yaml.Node, path string) (time.Duration, error) {
	v, err := p.str(n, path)
	if err != nil {
		return 0, err
	}
	d, ok := ParseRetention(v)
	if !ok {
		return 0, p.errf(n, path, "a positive duration such as 1095d, 36h or 90m")
	}
	return d, nil
}

func (p *parser) collections(s *coffer.Schema, n *yaml.Node) error {
	kvs, err := p.pairs(n, "collections")
	if err != nil {
		return err
	}
	if len(kvs) > MaxCollections {
		return p.errf(n, "collections", "at most %d collections", MaxCollections)
	}
	for _, kv := range kvs {
		name, path := kv[0].Value, join("collections", kv[0].Value)
		if !nameRE.MatchString(name) {
			return p.errf(kv[0], path, "collection names are lower-case letters, digits and _ (at most 63)")
		}
		c := &coffer.Collection{Name: name, Fields: map[string]*coffer.Field{}}
		parts, err := p.pairs(kv[1], path, "retention", "fields")
		if err != nil {
			return err
		}
		var fieldsNode *yaml.Node
		for _, part := range parts {
			switch part[0].Value {
			case "retention":
				if c.Retention, err = p.retention(part[1], join(path, "retention")); err != nil {
					return err
				}
			case "fields":
				fieldsNode = part[1]
			}
		}
		if fieldsNode == nil {
			return p.errf(kv[1], join(path, "fields"), "required")
		}
		fkvs, err := p.pairs(fieldsNode, join(path, "fields"))
		if err != nil {
			return err
		}
		if len(fkvs) == 0 || len(fkvs) > MaxFields {
			return p.errf(fieldsNode, join(path, "fields"), "between 1 and %d fields", MaxFields)
		}
		for _, fkv := range fkvs {
			f, err := p.field(s, fkv[0], fkv[1], join(join(path, "fields"), fkv[0].Value))
			if err != nil {
				return err
			}
			c.Fields[f.Name] = f
			c.Order = append(c.Order, f.Name)
		}
		s.Collections[name] = c
	}
	return nil
}

// NamespaceRE is the shape of a token namespace or FPE key name.
var NamespaceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (p *parser) field(s *coffer.Schema, key, n *yaml.Node, path string) (*coffer.Field, error) {
	name := key.Value
	if !nameRE.MatchString(name) {
		return nil, p.errf(key, path, "field names are lower-case letters, digits and _ (at most 63)")
	}
	kvs, err := p.pairs(n, path, "type", "classification", "purposes", "searchable", "mask", "tokenize", "retention", "required")
	if err != nil {
		return nil, err
	}
	f := &coffer.Field{Name: name}
	for _, kv := range kvs {
		k, v, kp := kv[0].Value, kv[1], join(path, kv[0].Value)
		switch k {
		case "type", "classification", "mask", "tokenize":
			sv, err := p.str(v, kp)
			if err != nil {
				return nil, err
			}
			switch k {
			case "type":
				if sensitiveAuthName(sv) {
					return nil, p.errf(v, kp, "type %q is sensitive authentication data (card security code, track data or PIN), which must never be stored after authorization (PCI DSS 4.0.1 req. 3.3.1)", sv)
				}
				if !types[coffer.FieldType(sv)] {
					return nil, p.errf(v, kp, "unknown type %q (string, email, phone, date, card_number, iban, ssn, ip, json, integer, boolean)", sv)
				}
				f.Type = coffer.FieldType(sv)
			case "classification":
				if !classifications[coffer.Classification(sv)] {
					return nil, p.errf(v, kp, "unknown classification %q (personal, sensitive, payment)", sv)
				}
				f.Classification = coffer.Classification(sv)
			case "mask":
				if !masks[sv] {
					return nil, p.errf(v, kp, "unknown mask %q (email, last4, pan, initials, year, redact)", sv)
				}
				f.Mask = sv
			case "tokenize":
				if sv != "card" {
					return nil, p.errf(v, kp, "unknown tokenization %q (card)", sv)
				}
				f.Tokenize = sv
			}
		case "searchable", "required":
			b, err := p.boolean(v, kp)
			if err != nil {
				return nil, err
			}
			if k == "searchable" {
				f.Searchable = b
			} else {
				f.Required = b
			}
		case "retention":
			if f.Retention, err = p.retention(v, kp); err != nil {
				return nil, err
			}
		case "purposes":
			items, err := p.list(v, kp)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				pv, err := p.str(it, kp)
				if err != nil {
					return nil, err
				}
				if s.Purposes[pv] == nil {
					return nil, p.errf(it, kp, "purpose %q is not declared under purposes", pv)
				}
				if !slices.Contains(f.Purposes, pv) {
					f.Purposes = append(f.Purposes, pv)
				}
			}
		}
	}
	switch {
	case f.Type == "":
		return nil, p.errf(n, join(path, "type"), "required")
	case f.Classification == "":
		return nil, p.errf(n, join(path, "classification"), "required")
	case len(f.Purposes) == 0:
		return nil, p.errf(n, join(path, "purposes"), "required: at least one purpose")
	case f.Tokenize != "" && f.Type != coffer.TypeCardNumber:
		return nil, p.errf(n, join(path, "tokenize"), "card tokenization applies to card_number fields only")
	case f.Searchable && (f.Type == coffer.TypeJSON || f.Type == coffer.TypeBoolean):
		return nil, p.errf(n, join(path, "searchable"), "%s fields cannot be searchable", f.Type)
	}
	if sensitiveAuthName(name) {
		return nil, p.errf(key, path, "looks like sensitive authentication data (card security code, track data or PIN), which must never be stored after authorization (PCI DSS 4.0.1 req. 3.3.1)")
	}
	return f, nil
}
