package scan

import (
	"cmp"
	"encoding/json"
	"slices"
	"sync"

	"github.com/cofferhq/coffer/internal/pii"
)

// Location is where a finding is: a file and line, or a database column.
// Line 0 in a file stands for "further lines", past the per-file limit.
type Location struct {
	Path     string `json:"path,omitempty"`
	Line     int    `json:"line,omitempty"`
	Database string `json:"database,omitempty"`
	Table    string `json:"table,omitempty"`
	Column   string `json:"column,omitempty"`
}

// IsDatabase reports whether l is a database column.
func (l Location) IsDatabase() bool { return l.Database != "" }

// Finding is personal data of one kind in one place.
type Finding struct {
	Entity     pii.Entity `json:"-"`
	Location   Location   `json:"location"`
	Confidence float64    `json:"confidence"` // the highest of its occurrences
	Count      int        `json:"count"`      // occurrences in the place
	Sample     string     `json:"sample"`     // masked, never the value
	// Undeclared is set when an inventory was given and does not declare
	// this data in this place.
	Undeclared bool `json:"undeclared,omitempty"`
}

// MarshalJSON writes the entity by name first.
func (f Finding) MarshalJSON() ([]byte, error) {
	type plain Finding
	return json.Marshal(struct {
		Entity string `json:"entity"`
		plain
	}{f.Entity.String(), plain(f)})
}

// Stats describe what was read.
type Stats struct {
	Bytes   int64   `json:"bytes"`
	Files   int     `json:"files"`
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	Skipped int     `json:"skipped,omitempty"` // binary or unreadable files
}

// Report is the result of a scan.
type Report struct {
	Findings []Finding `json:"findings"`
	Stats    Stats     `json:"stats"`
}

type findingKey struct {
	loc    Location
	entity pii.Entity
}

type fileEntity struct {
	path   string
	entity pii.Entity
}

// collector merges findings from the workers.
type collector struct {
	mu      sync.Mutex
	byKey   map[findingKey]*Finding
	perFile map[fileEntity]int
	maxFile int
}

func newCollector(maxPerFile int) *collector {
	return &collector{byKey: map[findingKey]*Finding{}, perFile: map[fileEntity]int{}, maxFile: maxPerFile}
}

// add merges f (whose Count occurrences are new) into the report.
func (c *collector) add(f Finding) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := findingKey{f.Location, f.Entity}
	if old, ok := c.byKey[k]; ok {
		old.Count += f.Count
		old.Confidence = max(old.Confidence, f.Confidence)
		return
	}
	if !f.Location.IsDatabase() && c.maxFile > 0 {
		fe := fileEntity{f.Location.Path, f.Entity}
		if c.perFile[fe] >= c.maxFile {
			f.Location.Line = 0 // fold: "further lines"
			k = findingKey{f.Location, f.Entity}
			if old, ok := c.byKey[k]; ok {
				old.Count += f.Count
				old.Confidence = max(old.Confidence, f.Confidence)
				return
			}
		} else {
			c.perFile[fe]++
		}
	}
	c.byKey[k] = &f
}

func (c *collector) findings() []Finding {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Finding, 0, len(c.byKey))
	for _, f := range c.byKey {
		out = append(out, *f)
	}
	SortFindings(out)
	return out
}

// SortFindings orders findings by place, then entity; the "further lines"
// of a file come after its numbered lines.
func SortFindings(fs []Finding) {
	line := func(l int) int {
		if l == 0 {
			return int(^uint(0) >> 1)
		}
		return l
	}
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Location.Database, b.Location.Database),
			cmp.Compare(a.Location.Table, b.Location.Table),
			cmp.Compare(a.Location.Column, b.Location.Column),
			cmp.Compare(a.Location.Path, b.Location.Path),
			cmp.Compare(line(a.Location.Line), line(b.Location.Line)),
			cmp.Compare(a.Entity, b.Entity),
		)
	})
}
