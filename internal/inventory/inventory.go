// Package inventory reads a data inventory (inventory.yaml): who the
// controller is, which systems and paper archives hold which categories of
// personal data about whom, for which purposes on which legal bases, who
// receives it, where it goes abroad, how long it is kept and how it is
// protected. From it come the GDPR Art. 30(1) record of processing
// activities (Markdown, CSV, JSON), the public privacy notice (HTML), and
// the check that the scanner's findings are in declared places.
package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cofferhq/coffer/internal/pii"
)

// Contact is a person or body and how to reach them.
type Contact struct {
	Name    string `yaml:"name" json:"name"`
	Address string `yaml:"address,omitempty" json:"address,omitempty"`
	Email   string `yaml:"email,omitempty" json:"email,omitempty"`
	Phone   string `yaml:"phone,omitempty" json:"phone,omitempty"`
	URL     string `yaml:"url,omitempty" json:"url,omitempty"`
}

// Rights says how people exercise their rights and where they complain.
type Rights struct {
	Email     string `yaml:"email,omitempty" json:"email,omitempty"`
	URL       string `yaml:"url,omitempty" json:"url,omitempty"`
	Authority string `yaml:"authority,omitempty" json:"authority,omitempty"` // the supervisory authority
}

// Kinds of system.
const (
	KindDatabase     = "database"
	KindSaaS         = "saas"
	KindFileStore    = "file_store"
	KindPaperArchive = "paper_archive"
	KindOther        = "other"
)

// System is where personal data is kept: a database, a SaaS, a file
// store, or a paper archive.
type System struct {
	ID          string `yaml:"id" json:"id"`
	Name        string `yaml:"name" json:"name"`
	Kind        string `yaml:"kind" json:"kind"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Locations are what `coffer scan --inventory` matches findings
	// against: file paths or globs (a directory covers what is under it),
	// SQLite files, PostgreSQL databases as postgres://host:port/db.
	Locations []string `yaml:"locations,omitempty" json:"locations,omitempty"`
	// Tables limit a database location to these tables (schema.table for
	// PostgreSQL); empty means every table.
	Tables     []string `yaml:"tables,omitempty" json:"tables,omitempty"`
	Categories []string `yaml:"categories" json:"categories"`
	Vendor     string   `yaml:"vendor,omitempty" json:"vendor,omitempty"`
	Country    string   `yaml:"country,omitempty" json:"country,omitempty"`
	// Paper archives: where, who holds the keys, how it is destroyed.
	Location    string `yaml:"location,omitempty" json:"location,omitempty"`
	Custodian   string `yaml:"custodian,omitempty" json:"custodian,omitempty"`
	Destruction string `yaml:"destruction,omitempty" json:"destruction,omitempty"`
	Retention   string `yaml:"retention,omitempty" json:"retention,omitempty"`
}

// Category is a category of personal data.
type Category struct {
	ID          string `yaml:"id" json:"id"`
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Special marks Art. 9 data (health, beliefs, biometrics, …).
	Special bool `yaml:"special,omitempty" json:"special,omitempty"`
	// Detects lists the scanner entities this category covers (email,
	// phone, card, iban, ssn, ipv4, ipv6, date_of_birth, person_name).
	Detects []string `yaml:"detects,omitempty" json:"detects,omitempty"`
}

// Subject is a kind of data subject (customers, employees, …).
type Subject struct {
	ID          string `yaml:"id" json:"id"`
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// Legal bases of Art. 6(1) GDPR.
var LegalBases = map[string]string{
	"consent":              "Consent (Art. 6(1)(a))",
	"contract":             "Performance of a contract (Art. 6(1)(b))",
	"legal_obligation":     "Legal obligation (Art. 6(1)(c))",
	"vital_interests":      "Vital interests (Art. 6(1)(d))",
	"public_task":          "Public task (Art. 6(1)(e))",
	"legitimate_interests": "Legitimate interests (Art. 6(1)(f))",
}

// Purpose is a processing activity: why data is processed.
type Purpose struct {
	ID          string `yaml:"id" json:"id"`
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
	LegalBasis  string `yaml:"legal_basis" json:"legal_basis"`
	// LegitimateInterest states the interest when the basis is
	// legitimate_interests.
	LegitimateInterest string   `yaml:"legitimate_interest,omitempty" json:"legitimate_interest,omitempty"`
	Categories         []string `yaml:"categories" json:"categories"`
	Subjects           []string `yaml:"subjects" json:"subjects"`
	Systems            []string `yaml:"systems,omitempty" json:"systems,omitempty"`
	Recipients         []string `yaml:"recipients,omitempty" json:"recipients,omitempty"`
	Retention          string   `yaml:"retention" json:"retention"`
}

// Recipient receives personal data.
type Recipient struct {
	ID      string `yaml:"id" json:"id"`
	Name    string `yaml:"name" json:"name"`
	Kind    string `yaml:"kind" json:"kind"` // processor, controller, public_authority, internal
	Country string `yaml:"country,omitempty" json:"country,omitempty"`
	Role    string `yaml:"role,omitempty" json:"role,omitempty"`
}

// Transfer is a transfer to a third country or international organisation.
type Transfer struct {
	Recipient     string `yaml:"recipient" json:"recipient"`
	Country       string `yaml:"country" json:"country"`
	Safeguard     string `yaml:"safeguard" json:"safeguard"` // adequacy, scc, bcr, derogation, …
	Documentation string `yaml:"documentation,omitempty" json:"documentation,omitempty"`
}

// Safeguards of Chapter V GDPR.
var Safeguards = map[string]string{
	"adequacy":   "Adequacy decision (Art. 45)",
	"scc":        "Standard contractual clauses (Art. 46(2)(c))",
	"bcr":        "Binding corporate rules (Art. 47)",
	"code":       "Approved code of conduct (Art. 46(2)(e))",
	"derogation": "Derogation for a specific situation (Art. 49)",
}

// Inventory is the whole inventory.yaml.
type Inventory struct {
	Controller     Contact     `yaml:"controller"`
	Representative *Contact    `yaml:"representative,omitempty"`
	DPO            *Contact    `yaml:"dpo,omitempty"`
	Rights         Rights      `yaml:"rights"`
	Systems        []System    `yaml:"systems"`
	Categories     []Category  `yaml:"categories"`
	Subjects       []Subject   `yaml:"subjects"`
	Purposes       []Purpose   `yaml:"purposes"`
	Recipients     []Recipient `yaml:"recipients,omitempty"`
	Transfers      []Transfer  `yaml:"transfers,omitempty"`
	Measures       []string    `yaml:"measures"`
}

// Load reads and validates an inventory file.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	inv, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}

// Parse reads and validates an inventory; unknown keys are errors.
func Parse(data []byte) (*Inventory, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var inv Inventory
	if err := dec.Decode(&inv); err != nil {
		return nil, err
	}
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	return &inv, nil
}

// Validate checks required fields and that every reference resolves. It
// reports every problem at once.
func (inv *Inventory) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if inv.Controller.Name == "" || (inv.Controller.Email == "" && inv.Controller.Address == "") {
		bad("controller: name and an e-mail or postal address are required (Art. 30(1)(a))")
	}
	if inv.DPO != nil && inv.DPO.Email == "" && inv.DPO.Phone == "" && inv.DPO.Address == "" {
		bad("dpo: give a way to contact the data protection officer")
	}
	if inv.Rights.Email == "" && inv.Rights.URL == "" && inv.Controller.Email == "" {
		bad("rights: give an e-mail or URL where people exercise their rights")
	}
	ids := func(kind string, list []string) map[string]bool {
		m := map[string]bool{}
		for i, id := range list {
			switch {
			case id == "":
				bad("%s #%d: id is required", kind, i+1)
			case m[id]:
				bad("%s %q: duplicate id", kind, id)
			}
			m[id] = true
		}
		return m
	}
	sysIDs := ids("system", collect(inv.Systems, func(s System) string { return s.ID }))
	catIDs := ids("category", collect(inv.Categories, func(c Category) string { return c.ID }))
	subIDs := ids("subject", collect(inv.Subjects, func(s Subject) string { return s.ID }))
	recIDs := ids("recipient", collect(inv.Recipients, func(r Recipient) string { return r.ID }))
	ids("purpose", collect(inv.Purposes, func(p Purpose) string { return p.ID }))
	refs := func(where, kind string, list []string, known map[string]bool) {
		for _, r := range list {
			if !known[r] {
				bad("%s: unknown %s %q", where, kind, r)
			}
		}
	}
	for _, s := range inv.Systems {
		where := fmt.Sprintf("system %q", s.ID)
		switch s.Kind {
		case KindDatabase, KindSaaS, KindFileStore, KindOther:
		case KindPaperArchive:
			if s.Location == "" || s.Custodian == "" || s.Destruction == "" {
				bad("%s: a paper archive needs location, custodian and destruction", where)
			}
		default:
			bad("%s: kind %q is not one of database, saas, file_store, paper_archive, other", where, s.Kind)
		}
		if s.Name == "" {
			bad("%s: name is required", where)
		}
		refs(where, "category", s.Categories, catIDs)
	}
	for _, c := range inv.Categories {
		if c.Name == "" {
			bad("category %q: name is required", c.ID)
		}
		for _, e := range c.Detects {
			if _, err := pii.ParseEntity(e); err != nil {
				bad("category %q: detects: %v", c.ID, err)
			}
		}
	}
	if len(inv.Purposes) == 0 {
		bad("purposes: at least one processing activity is required (Art. 30(1)(b))")
	}
	for _, p := range inv.Purposes {
		where := fmt.Sprintf("purpose %q", p.ID)
		if p.Name == "" || p.Description == "" {
			bad("%s: name and description are required", where)
		}
		if _, ok := LegalBases[p.LegalBasis]; !ok {
			bad("%s: legal_basis %q is not one of consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests", where, p.LegalBasis)
		}
		if p.LegalBasis == "legitimate_interests" && p.LegitimateInterest == "" {
			bad("%s: state the legitimate_interest", where)
		}
		if len(p.Categories) == 0 || len(p.Subjects) == 0 {
			bad("%s: categories and subjects are required (Art. 30(1)(c))", where)
		}
		if p.Retention == "" {
			bad("%s: retention is required (Art. 30(1)(f))", where)
		}
		refs(where, "category", p.Categories, catIDs)
		refs(where, "subject", p.Subjects, subIDs)
		refs(where, "system", p.Systems, sysIDs)
		refs(where, "recipient", p.Recipients, recIDs)
	}
	for _, r := range inv.Recipients {
		switch r.Kind {
		case "processor", "controller", "public_authority", "internal":
		default:
			bad("recipient %q: kind %q is not one of processor, controller, public_authority, internal", r.ID, r.Kind)
		}
	}
	for i, t := range inv.Transfers {
		where := fmt.Sprintf("transfer #%d", i+1)
		refs(where, "recipient", []string{t.Recipient}, recIDs)
		if t.Country == "" {
			bad("%s: country is required", where)
		}
		if _, ok := Safeguards[t.Safeguard]; !ok {
			bad("%s: safeguard %q is not one of adequacy, scc, bcr, code, derogation (Art. 30(1)(e))", where, t.Safeguard)
		}
	}
	if len(inv.Measures) == 0 {
		bad("measures: describe the security measures (Art. 30(1)(g))")
	}
	return errors.Join(errs...)
}

func collect[T any](list []T, f func(T) string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = f(v)
	}
	return out
}

// Place is where the scanner found something: a file path, or a database
// and table.
type Place struct {
	Path     string
	Database string
	Table    string
}

// Declares reports whether the inventory declares personal data of the
// scanner entity (such as "email") in place: a system lists a location
// that covers it, and, when that system's categories say which entities
// they cover, one of them covers this one.
func (inv *Inventory) Declares(p Place, entity string) bool {
	cats := map[string]Category{}
	for _, c := range inv.Categories {
		cats[c.ID] = c
	}
	for _, s := range inv.Systems {
		if !s.covers(p) {
			continue
		}
		specific := false
		for _, id := range s.Categories {
			c := cats[id]
			if len(c.Detects) > 0 {
				specific = true
			}
			if slices.Contains(c.Detects, entity) {
				return true
			}
		}
		if !specific {
			return true
		}
	}
	return false
}

func (s System) covers(p Place) bool {
	for _, loc := range s.Locations {
		if p.Database != "" {
			if !sameTarget(loc, p.Database) {
				continue
			}
			if len(s.Tables) == 0 || slices.Contains(s.Tables, p.Table) {
				return true
			}
			continue
		}
		if pathCovered(loc, p.Path) {
			return true
		}
	}
	return false
}

func sameTarget(loc, db string) bool {
	if strings.Contains(db, "://") {
		return strings.TrimSuffix(loc, "/") == db
	}
	return pathCovered(loc, db)
}

// pathCovered: the location is the path, a glob that matches it, or a
// directory above it.
func pathCovered(loc, path string) bool {
	clean := func(s string) string {
		if abs, err := filepath.Abs(s); err == nil {
			return abs
		}
		return filepath.Clean(s)
	}
	l, p := clean(loc), clean(path)
	if l == p || strings.HasPrefix(p, l+string(filepath.Separator)) {
		return true
	}
	ok, _ := filepath.Match(l, p)
	return ok
}
