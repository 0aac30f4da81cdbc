package scan

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cofferhq/coffer/internal/pii"
	"github.com/cofferhq/coffer/internal/scan/loggen"
)

// TestGeneratedLog scans the benchmark's kind of input, where every
// personal value is known, and wants all of them found and nothing else.
func TestGeneratedLog(t *testing.T) {
	var buf bytes.Buffer
	want := map[string]int{}
	if err := loggen.Write(&buf, 8<<20, 7, func(line int, entity string) { want[fmt.Sprintf("%d %s", line, entity)]++ }); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gen.log")
	os.WriteFile(path, buf.Bytes(), 0o644)
	r, err := New(Options{ChunkSize: 64 << 10, MaxPerFile: -1}).Scan(context.Background(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range r.Findings {
		got[fmt.Sprintf("%d %s", f.Location.Line, f.Entity)] += f.Count
	}
	fp, fn := 0, 0
	for k, n := range got {
		if d := n - want[k]; d > 0 {
			fp += d
			if fp < 10 {
				t.Errorf("false positive: line %s", k)
			}
		}
	}
	for k, n := range want {
		if d := n - got[k]; d > 0 {
			fn += d
			if fn < 10 {
				t.Errorf("missed: line %s", k)
			}
		}
	}
	t.Logf("generated log: %d labelled values, %d false positives, %d missed", len(want), fp, fn)
	if len(want) < 100 || fp+fn > 0 {
		t.Errorf("%d labelled values, %d false positives, %d missed", len(want), fp, fn)
	}
}

// BenchmarkScanLog measures throughput on the synthetic log (bytes/s is
// the figure); the end-to-end figure comes from the binary (README).
func BenchmarkScanLog(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	if err := loggen.Write(f, size, 1, nil); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	b.SetBytes(fi.Size())
	s := New(Options{})
	for b.Loop() {
		if _, err := s.Scan(context.Background(), []string{path}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDetect is the detectors alone, one core, on the same text.
func BenchmarkDetect(b *testing.B) {
	var buf bytes.Buffer
	loggen.Write(&buf, 8<<20, 1, nil)
	data := buf.Bytes()
	det := pii.New(pii.Options{})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		det.Scan(data, 0, func(pii.Match) {})
	}
}
