package inventory

import (
	_ "embed"
	"html/template"
	"io"
)

//go:embed notice.html.tmpl
var noticeSrc string

var noticeTmpl = template.Must(template.New("notice").Parse(noticeSrc))

// noticeData is what the public notice shows: no system locations, no
// custodians, nothing an attacker could use.
type noticeData struct {
	Controller Contact
	DPO        *Contact
	Rights     Rights
	Purposes   []noticePurpose
	Categories []Category
	Recipients []Recipient
	Transfers  []TransferRecord
	Consent    bool
}

type noticePurpose struct {
	Name, Description, LegalBasis, LegitimateInterest, Retention string
	Categories                                                   []string
}

// WriteNotice writes the public privacy notice as a standalone HTML page:
// who decides, what is collected and why, on which basis, who receives it,
// where it goes abroad, how long it is kept and how to exercise rights.
func (inv *Inventory) WriteNotice(w io.Writer) error {
	rec := inv.Record()
	d := noticeData{Controller: inv.Controller, DPO: inv.DPO, Rights: inv.Rights, Categories: inv.Categories, Recipients: inv.Recipients}
	for i, p := range inv.Purposes {
		a := rec.Activities[i]
		d.Purposes = append(d.Purposes, noticePurpose{Name: p.Name, Description: p.Description, LegalBasis: a.LegalBasis,
			LegitimateInterest: p.LegitimateInterest, Retention: p.Retention, Categories: a.Categories})
		if p.LegalBasis == "consent" {
			d.Consent = true
		}
	}
	seen := map[TransferRecord]bool{}
	for _, a := range rec.Activities {
		for _, t := range a.Transfers {
			if !seen[t] {
				seen[t] = true
				d.Transfers = append(d.Transfers, t)
			}
		}
	}
	return noticeTmpl.Execute(w, d)
}
