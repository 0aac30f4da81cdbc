package scan

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/pii"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func scanCorpus(t *testing.T, o Options) *Report {
	t.Helper()
	var warnings []string
	o.Warn = func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }
	r, err := New(o).Scan(context.Background(), []string{"testdata/corpus"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"skipped testdata/corpus/image.bin: binary"}; !slices.Equal(warnings, want) {
		t.Errorf("warnings = %q, want %q", warnings, want)
	}
	return r
}

// TestCorpusPrecisionRecall compares the findings on the corpus with the
// hand-written labels, occurrence by occurrence, and fails below the bar.
func TestCorpusPrecisionRecall(t *testing.T) {
	expected := map[string]int{} // "file:line entity" → occurrences
	f, err := os.Open("testdata/corpus.expected")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if l := strings.TrimSpace(sc.Text()); l != "" && l[0] != '#' {
			expected[l]++
			total++
		}
	}
	r := scanCorpus(t, Options{Workers: 2})
	got := map[string]int{}
	for _, f := range r.Findings {
		got[fmt.Sprintf("%s:%d %s", filepath.Base(f.Location.Path), f.Location.Line, f.Entity)] += f.Count
	}
	tp, fp, fn := 0, 0, 0
	perEntity := map[string][3]int{}
	keys := map[string]bool{}
	for k := range expected {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	}) {
		e, g := expected[k], got[k]
		hit := min(e, g)
		tp += hit
		fp += g - hit
		fn += e - hit
		ent := k[strings.LastIndexByte(k, ' ')+1:]
		c := perEntity[ent]
		perEntity[ent] = [3]int{c[0] + hit, c[1] + g - hit, c[2] + e - hit}
		if g > hit {
			t.Logf("false positive: %s (%d)", k, g-hit)
		}
		if e > hit {
			t.Logf("missed: %s (%d)", k, e-hit)
		}
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(tp+fn)
	for _, e := range pii.Entities() {
		c := perEntity[e.String()]
		t.Logf("%-14s tp %2d fp %2d fn %2d", e, c[0], c[1], c[2])
	}
	t.Logf("corpus: %d labelled occurrences; precision %.3f, recall %.3f", total, precision, recall)
	if precision < 0.95 || recall < 0.9 {
		t.Errorf("precision %.3f (want ≥ 0.95), recall %.3f (want ≥ 0.90)", precision, recall)
	}
}
