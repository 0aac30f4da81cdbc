package scan

import (
	"cmp"
	"container/heap"
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

// collector merges findings from the workers. Per file and entity it keeps
// the maxFile smallest line numbers, whatever order the workers finish in,
// and folds the rest into one "further lines" finding (line 0): reports
// are the same from run to run, and memory stays bounded.
type collector struct {
	mu      sync.Mutex
	byKey   map[findingKey]*Finding
	kept    map[fileEntity]*lineHeap
	maxFile int
}

func newCollector(maxPerFile int) *collector {
	return &collector{byKey: map[findingKey]*Finding{}, kept: map[fileEntity]*lineHeap{}, maxFile: maxPerFile}
}

// merge adds f's occurrences to the finding at k, or makes f that finding.
func (c *collector) merge(k findingKey, f Finding) {
	if old, ok := c.byKey[k]; ok {
		old.Count += f.Count
		old.Confidence = max(old.Confidence, f.Confidence)
		return
	}
	f.Location = k.loc
	c.byKey[k] = &f
}

// add merges f (whose Count occurrences are new) into the report.
func (c *collector) add(f Finding) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := findingKey{f.Location, f.Entity}
	if _, ok := c.byKey[k]; ok || f.Location.IsDatabase() || c.maxFile <= 0 || f.Location.Line == 0 {
		c.merge(k, f)
		return
	}
	fe := fileEntity{f.Location.Path, f.Entity}
	h := c.kept[fe]
	if h == nil {
		h = &lineHeap{}
		c.kept[fe] = h
	}
	fold := findingKey{Location{Path: f.Location.Path}, f.Entity}
	switch {
	case h.Len() < c.maxFile:
		heap.Push(h, f.Location.Line)
		c.merge(k, f)
	case f.Location.Line < (*h)[0]:
		// f displaces the largest line kept, which joins the fold.
		out := findingKey{Location{Path: f.Location.Path, Line: heap.Pop(h).(int)}, f.Entity}
		c.merge(fold, *c.byKey[out])
		delete(c.byKey, out)
		heap.Push(h, f.Location.Line)
		c.merge(k, f)
	default:
		c.merge(fold, f)
	}
}

// lineHeap is a max-heap of line numbers.
type lineHeap []int

func (h lineHeap) Len() int           { return len(h) }
func (h lineHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h lineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *lineHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *lineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
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
