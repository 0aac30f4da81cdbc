package inventory

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Record is the record of processing activities of Art. 30(1) GDPR.
type Record struct {
	// (a) the controller, its representative and the DPO.
	Controller     Contact  `json:"controller"`
	Representative *Contact `json:"representative,omitempty"`
	DPO            *Contact `json:"dpo,omitempty"`
	// (b)–(f), per activity.
	Activities []Activity `json:"activities"`
	// (g) security measures.
	Measures []string `json:"security_measures"`
	// Where the data is: systems, SaaS, file stores, paper archives.
	Systems []System `json:"systems"`
}

// Activity is one processing activity, resolved to names.
type Activity struct {
	Name               string           `json:"name"`
	Purpose            string           `json:"purpose"`     // (b)
	LegalBasis         string           `json:"legal_basis"` // Art. 6(1)
	LegitimateInterest string           `json:"legitimate_interest,omitempty"`
	Subjects           []string         `json:"data_subjects"` // (c)
	Categories         []string         `json:"personal_data"` // (c); "(special category)" marks Art. 9
	Recipients         []string         `json:"recipients"`    // (d)
	Transfers          []TransferRecord `json:"transfers"`     // (e)
	Retention          string           `json:"retention"`     // (f)
	Systems            []string         `json:"systems,omitempty"`
}

// TransferRecord is a transfer resolved to names.
type TransferRecord struct {
	Recipient     string `json:"recipient"`
	Country       string `json:"country"`
	Safeguard     string `json:"safeguard"`
	Documentation string `json:"documentation,omitempty"`
}

// Record builds the Art. 30 record.
func (inv *Inventory) Record() Record {
	cat := map[string]Category{}
	for _, c := range inv.Categories {
		cat[c.ID] = c
	}
	sub := map[string]string{}
	for _, s := range inv.Subjects {
		sub[s.ID] = s.Name
	}
	rec := map[string]Recipient{}
	for _, r := range inv.Recipients {
		rec[r.ID] = r
	}
	sys := map[string]string{}
	for _, s := range inv.Systems {
		sys[s.ID] = s.Name
	}
	r := Record{Controller: inv.Controller, Representative: inv.Representative, DPO: inv.DPO,
		Measures: inv.Measures, Systems: inv.Systems, Activities: []Activity{}}
	for _, p := range inv.Purposes {
		a := Activity{Name: p.Name, Purpose: p.Description, LegalBasis: LegalBases[p.LegalBasis],
			LegitimateInterest: p.LegitimateInterest, Retention: p.Retention,
			Subjects: []string{}, Categories: []string{}, Recipients: []string{}, Transfers: []TransferRecord{}}
		for _, id := range p.Subjects {
			a.Subjects = append(a.Subjects, sub[id])
		}
		for _, id := range p.Categories {
			name := cat[id].Name
			if cat[id].Special {
				name += " (special category, Art. 9)"
			}
			a.Categories = append(a.Categories, name)
		}
		for _, id := range p.Recipients {
			rc := rec[id]
			name := rc.Name + " (" + strings.ReplaceAll(rc.Kind, "_", " ")
			if rc.Country != "" {
				name += ", " + rc.Country
			}
			a.Recipients = append(a.Recipients, name+")")
			for _, t := range inv.Transfers {
				if t.Recipient == id {
					a.Transfers = append(a.Transfers, TransferRecord{Recipient: rc.Name, Country: t.Country,
						Safeguard: Safeguards[t.Safeguard], Documentation: t.Documentation})
				}
			}
		}
		for _, id := range p.Systems {
			a.Systems = append(a.Systems, sys[id])
		}
		r.Activities = append(r.Activities, a)
	}
	return r
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, "; ")
}

func transfersText(ts []TransferRecord) string {
	var out []string
	for _, t := range ts {
		s := fmt.Sprintf("%s to %s: %s", t.Recipient, t.Country, t.Safeguard)
		if t.Documentation != "" {
			s += " (" + t.Documentation + ")"
		}
		out = append(out, s)
	}
	return orNone(out)
}

func contactText(c *Contact) string {
	if c == nil {
		return "none designated"
	}
	parts := []string{c.Name}
	for _, p := range []string{c.Address, c.Email, c.Phone, c.URL} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// md escapes text for a Markdown table cell.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", "").Replace(s)
}

// WriteMarkdown writes the record as Markdown.
func (r Record) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Record of processing activities (GDPR Art. 30(1))\n\n")
	fmt.Fprintf(&b, "**Controller (a):** %s  \n", md(contactText(&r.Controller)))
	if r.Representative != nil {
		fmt.Fprintf(&b, "**Representative (a):** %s  \n", md(contactText(r.Representative)))
	}
	fmt.Fprintf(&b, "**Data protection officer (a):** %s\n\n", md(contactText(r.DPO)))
	for i, a := range r.Activities {
		fmt.Fprintf(&b, "## %d. %s\n\n| | |\n|---|---|\n", i+1, md(a.Name))
		basis := a.LegalBasis
		if a.LegitimateInterest != "" {
			basis += ": " + a.LegitimateInterest
		}
		rows := [][2]string{
			{"Purpose (b)", a.Purpose},
			{"Legal basis", basis},
			{"Data subjects (c)", orNone(a.Subjects)},
			{"Personal data (c)", orNone(a.Categories)},
			{"Recipients (d)", orNone(a.Recipients)},
			{"Third-country transfers (e)", transfersText(a.Transfers)},
			{"Retention (f)", a.Retention},
			{"Systems", orNone(a.Systems)},
		}
		for _, row := range rows {
			fmt.Fprintf(&b, "| %s | %s |\n", row[0], md(row[1]))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Security measures (g)\n\n")
	for _, m := range r.Measures {
		fmt.Fprintf(&b, "- %s\n", md(m))
	}
	b.WriteString("\n## Systems and archives\n\n| System | Kind | Where | Custodian | Destruction | Retention |\n|---|---|---|---|---|---|\n")
	for _, s := range r.Systems {
		where := s.Location
		if where == "" {
			where = strings.Join(s.Locations, ", ")
		}
		if s.Vendor != "" {
			where = strings.TrimPrefix(where+", "+s.Vendor, ", ")
		}
		if s.Country != "" {
			where += " (" + s.Country + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", md(s.Name), strings.ReplaceAll(s.Kind, "_", " "),
			md(where), md(s.Custodian), md(s.Destruction), md(s.Retention))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCSV writes one row per activity, columns (a)–(g).
func (r Record) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"controller", "representative", "dpo", "activity", "purpose", "legal_basis", "data_subjects",
		"personal_data", "recipients", "transfers", "retention", "systems", "security_measures"})
	rep := ""
	if r.Representative != nil {
		rep = contactText(r.Representative)
	}
	for _, a := range r.Activities {
		basis := a.LegalBasis
		if a.LegitimateInterest != "" {
			basis += ": " + a.LegitimateInterest
		}
		cw.Write([]string{contactText(&r.Controller), rep, contactText(r.DPO), a.Name, a.Purpose, basis,
			orNone(a.Subjects), orNone(a.Categories), orNone(a.Recipients), transfersText(a.Transfers), a.Retention,
			orNone(a.Systems), strings.Join(r.Measures, "; ")})
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the record as JSON.
func (r Record) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
