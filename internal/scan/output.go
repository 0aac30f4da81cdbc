package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cofferhq/coffer/internal/pii"
)

// Where names a location in one string: "path:line", "path" (further
// lines) or "database table.column".
func (l Location) String() string {
	switch {
	case l.IsDatabase():
		return l.Database + " " + l.Table + "." + l.Column
	case l.Line > 0:
		return l.Path + ":" + strconv.Itoa(l.Line)
	}
	return l.Path + " (further lines)"
}

// WriteText writes one line per finding and a summary line.
func WriteText(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range r.Findings {
		mark := ""
		if f.Undeclared {
			mark = "\tUNDECLARED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t%s%s\n", f.Location, f.Entity, f.Confidence, f.Count, f.Sample, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	counts := map[pii.Entity]int{}
	undeclared := 0
	for _, f := range r.Findings {
		counts[f.Entity] += f.Count
		if f.Undeclared {
			undeclared++
		}
	}
	var parts []string
	for _, e := range pii.Entities() {
		if counts[e] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", e, counts[e]))
		}
	}
	what := "no personal data found"
	if len(parts) > 0 {
		what = fmt.Sprintf("%d findings (%s)", len(r.Findings), strings.Join(parts, ", "))
	}
	if undeclared > 0 {
		what += fmt.Sprintf(", %d undeclared", undeclared)
	}
	_, err := fmt.Fprintf(w, "%s; read %d files, %d rows, %s in %.2fs\n", what, r.Stats.Files, r.Stats.Rows,
		humanBytes(r.Stats.Bytes), r.Stats.Seconds)
	return err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// WriteJSON writes the report as one JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	out := *r
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// SARIF 2.1.0 (OASIS), the subset code-scanning tools read.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		Version        string      `json:"version,omitempty"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID               string       `json:"id"`
		Name             string       `json:"name"`
		ShortDescription sarifMessage `json:"shortDescription"`
		DefaultConfig    sarifConfig  `json:"defaultConfiguration"`
	}
	sarifConfig struct {
		Level string `json:"level"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID     string          `json:"ruleId"`
		RuleIndex  int             `json:"ruleIndex"`
		Level      string          `json:"level"`
		Message    sarifMessage    `json:"message"`
		Locations  []sarifLocation `json:"locations"`
		Properties map[string]any  `json:"properties"`
	}
	sarifLocation struct {
		Physical *sarifPhysical `json:"physicalLocation,omitempty"`
		Logical  []sarifLogical `json:"logicalLocations,omitempty"`
	}
	sarifPhysical struct {
		Artifact sarifArtifact `json:"artifactLocation"`
		Region   *sarifRegion  `json:"region,omitempty"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine int `json:"startLine"`
	}
	sarifLogical struct {
		FullyQualifiedName string `json:"fullyQualifiedName"`
		Kind               string `json:"kind"`
	}
)

// WriteSARIF writes the report as SARIF 2.1.0: one rule per entity, one
// result per finding, files as physical and columns as logical locations.
func WriteSARIF(w io.Writer, r *Report, version string) error {
	drv := sarifDriver{Name: "coffer", Version: version, InformationURI: "https://github.com/cofferhq/coffer"}
	index := map[pii.Entity]int{}
	for _, e := range pii.Entities() {
		index[e] = len(drv.Rules)
		drv.Rules = append(drv.Rules, sarifRule{ID: "pii/" + e.String(), Name: ruleName(e),
			ShortDescription: sarifMessage{"Personal data: " + e.Title()}, DefaultConfig: sarifConfig{"warning"}})
	}
	results := make([]sarifResult, 0, len(r.Findings))
	for _, f := range r.Findings {
		level := "warning"
		if f.Undeclared {
			level = "error"
		}
		msg := fmt.Sprintf("%s (confidence %.2f, %d occurrence(s)), sample %s", f.Entity.Title(), f.Confidence, f.Count, f.Sample)
		if f.Undeclared {
			msg += "; not declared in the data inventory"
		}
		var loc sarifLocation
		if f.Location.IsDatabase() {
			loc.Logical = []sarifLogical{{FullyQualifiedName: f.Location.Database + "/" + f.Location.Table + "." + f.Location.Column, Kind: "member"}}
		} else {
			loc.Physical = &sarifPhysical{Artifact: sarifArtifact{URI: fileURI(f.Location.Path)}}
			if f.Location.Line > 0 {
				loc.Physical.Region = &sarifRegion{StartLine: f.Location.Line}
			}
		}
		results = append(results, sarifResult{RuleID: "pii/" + f.Entity.String(), RuleIndex: index[f.Entity], Level: level,
			Message: sarifMessage{msg}, Locations: []sarifLocation{loc},
			Properties: map[string]any{"confidence": f.Confidence, "count": f.Count, "undeclared": f.Undeclared}})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0",
		Runs: []sarifRun{{Tool: sarifTool{Driver: drv}, Results: results}}})
}

func ruleName(e pii.Entity) string {
	parts := strings.Split(e.String(), "_")
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, "")
}

// fileURI is a relative URI reference for a path (forward slashes,
// percent-encoded where needed).
func fileURI(p string) string {
	p = filepath.ToSlash(p)
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/:", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
