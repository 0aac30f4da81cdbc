package scan

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/internal/pii"
)

// Options configure a scan.
type Options struct {
	Region   string  // default region for national phone numbers
	Entities pii.Set // zero: all
	// MinConfidence drops weaker matches (default 0.6).
	MinConfidence float64
	Workers       int // default GOMAXPROCS
	ChunkSize     int // default 1 MiB
	// MaxPerFile is how many lines per file and entity are listed; later
	// ones are counted in one finding with line 0 (default 1000).
	MaxPerFile int
	// Full reads every row of PostgreSQL tables instead of a sample of
	// SampleRows per table (default 1000). SQLite files are read whole.
	Full       bool
	SampleRows int
	Stdin      io.Reader
	// Progress, when set, is called with the number of bytes just read.
	Progress func(n int64)
	// Warn, when set, hears about skipped files.
	Warn func(format string, args ...any)
}

// Scanner scans sources for personal data.
type Scanner struct {
	o   Options
	det *pii.Scanner
}

// New returns a Scanner.
func New(o Options) *Scanner {
	if o.MinConfidence == 0 {
		o.MinConfidence = 0.6
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 1 << 20
	}
	if o.MaxPerFile == 0 {
		o.MaxPerFile = 1000
	}
	if o.SampleRows <= 0 {
		o.SampleRows = 1000
	}
	if o.Warn == nil {
		o.Warn = func(string, ...any) {}
	}
	return &Scanner{o: o, det: pii.New(pii.Options{Region: o.Region, Entities: o.Entities})}
}

// IsDSN reports whether target names a PostgreSQL database.
func IsDSN(target string) bool {
	t := strings.ToLower(target)
	return strings.HasPrefix(t, "postgres://") || strings.HasPrefix(t, "postgresql://")
}

// looksLikeSecret reports a target that is no path but a URL or a
// connection string, which may hold a password: errors never repeat it.
func looksLikeSecret(target string) bool {
	t := strings.ToLower(target)
	return strings.Contains(t, "://") || strings.Contains(t, "password=")
}

// run is the state of one Scan call.
type run struct {
	s     *Scanner
	ctx   context.Context
	col   *collector
	jobs  chan job
	pool  chan []byte
	bytes atomic.Int64
	rows  atomic.Int64
	files int
	skip  int
}

// job is a chunk of a file: whole lines, except when one line is longer
// than a chunk.
type job struct {
	path  string
	line  int // number of the chunk's first line
	data  []byte
	buf   []byte // returned to the pool when done
	hints []pii.Hint
	csv   bool
	tsv   bool
}

// Scan reads every target: "-" for standard input, a PostgreSQL DSN, a
// SQLite file, a file or a directory.
func (s *Scanner) Scan(ctx context.Context, targets []string) (*Report, error) {
	start := time.Now()
	r := &run{s: s, ctx: ctx, col: newCollector(s.o.MaxPerFile),
		jobs: make(chan job, s.o.Workers), pool: make(chan []byte, 2*s.o.Workers+2)}
	for range cap(r.pool) {
		r.pool <- make([]byte, s.o.ChunkSize)
	}
	var wg sync.WaitGroup
	for range s.o.Workers {
		wg.Go(func() {
			for j := range r.jobs {
				r.scanJob(j)
				r.pool <- j.buf
			}
		})
	}
	var err error
	for _, t := range targets {
		if err = r.target(t); err != nil {
			break
		}
	}
	close(r.jobs)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return &Report{Findings: r.col.findings(), Stats: Stats{Bytes: r.bytes.Load(), Files: r.files,
		Rows: r.rows.Load(), Seconds: time.Since(start).Seconds(), Skipped: r.skip}}, nil
}

func (r *run) target(t string) error {
	switch {
	case t == "-":
		if r.s.o.Stdin == nil {
			return errors.New("no standard input")
		}
		return r.stream("-", r.s.o.Stdin, true)
	case IsDSN(t):
		return r.postgres(t)
	case looksLikeSecret(t):
		return errors.New("a target looks like a URL or connection string but is not a postgres:// DSN (not repeated here: it may hold a password)")
	}
	fi, err := os.Stat(t)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return r.dir(t)
	}
	f, err := os.Open(t)
	if err != nil {
		return err
	}
	defer f.Close()
	return r.file(t, f, true)
}

// dir walks a directory through os.Root: a symlink that leads out of it
// cannot be opened, and symlinked directories are not entered.
func (r *run) dir(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			r.s.o.Warn("skipped %s: %v", filepath.Join(dir, p), err)
			r.skip++
			return nil
		}
		if e := r.ctx.Err(); e != nil {
			return e
		}
		if d.IsDir() {
			if p != "." && (d.Name() == ".git" || d.Name() == ".hg" || d.Name() == ".svn") {
				return fs.SkipDir
			}
			return nil
		}
		name := filepath.Join(dir, filepath.FromSlash(p))
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil // devices, sockets, pipes
		}
		f, err := root.Open(p)
		if err != nil {
			r.s.o.Warn("skipped %s: %v", name, err)
			r.skip++
			return nil
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			return nil // a symlink to a directory or a device
		}
		return r.file(name, f, d.Type()&fs.ModeSymlink == 0)
	})
}

var sqliteMagic = []byte("SQLite format 3\x00")

// file scans one opened file: a SQLite database (when it may be opened by
// name), gzip-compressed text, or text; binary files are skipped.
func (r *run) file(name string, f *os.File, byName bool) error {
	var head [16]byte
	n, _ := io.ReadFull(f, head[:])
	if bytes.Equal(head[:n], sqliteMagic) {
		if !byName {
			r.s.o.Warn("skipped %s: a symlinked database", name)
			r.skip++
			return nil
		}
		return r.sqlite(name)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return r.stream(name, f, false)
}

// stream reads text in chunks and hands them to the workers.
func (r *run) stream(name string, in io.Reader, stdin bool) error {
	br := newPeekReader(in)
	head := br.peek(2)
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			r.s.o.Warn("skipped %s: %v", name, err)
			r.skip++
			return nil
		}
		defer zr.Close()
		br = newPeekReader(zr)
	}
	if bytes.IndexByte(br.peek(8192), 0) >= 0 {
		if !stdin {
			r.s.o.Warn("skipped %s: binary", name)
		}
		r.skip++
		return nil
	}
	r.files++
	lower := strings.ToLower(strings.TrimSuffix(name, ".gz"))
	isCSV := strings.HasSuffix(lower, ".csv") || strings.HasSuffix(lower, ".tsv")
	var hints []pii.Hint
	line := 1
	if isCSV {
		header := br.line(64 << 10)
		r.bytes.Add(int64(len(header)))
		hints = csvHints(header, isTSV(lower))
		line = 2
		// A file without a header has data on its first line: it is
		// scanned too (a real header yields nothing).
		buf := <-r.pool
		select {
		case r.jobs <- job{path: name, line: 1, data: buf[:copy(buf, header)], buf: buf}:
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
	}
	var carry []byte
	for {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		buf := <-r.pool
		n := copy(buf, carry)
		m, err := io.ReadFull(br, buf[n:])
		n += m
		if n == 0 {
			r.pool <- buf
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			return readErr(name, err)
		}
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			r.pool <- buf
			return readErr(name, err)
		}
		data := buf[:n]
		cut := n
		if !eof {
			if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
				cut = i + 1
			} else if i := bytes.LastIndexAny(data, ",;\"\t<>{}[]=&|"); i >= len(data)/2 {
				// A line longer than a chunk is cut where no value goes on
				// across the cut (values hold spaces, dots, dashes, colons).
				cut = i + 1
			}
		}
		// The rest waits for the next chunk; it is copied out first because
		// this buffer goes to a worker.
		carry = append(carry[:0], data[cut:]...)
		data = data[:cut]
		r.bytes.Add(int64(m))
		if r.s.o.Progress != nil {
			r.s.o.Progress(int64(m))
		}
		j := job{path: name, line: line, data: data, buf: buf, hints: hints, csv: isCSV, tsv: isTSV(lower)}
		line += bytes.Count(data, []byte{'\n'})
		select {
		case r.jobs <- j:
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
		if eof && len(carry) == 0 {
			return nil
		}
	}
}

func isTSV(name string) bool { return strings.HasSuffix(name, ".tsv") }

func readErr(name string, err error) error { return fmt.Errorf("reading %s: %w", name, err) }

// csvHints reads a header line into hints, one per column.
func csvHints(header []byte, tsv bool) []pii.Hint {
	var hints []pii.Hint
	for _, f := range splitFields(bytes.TrimRight(header, "\r\n"), sep(tsv)) {
		hints = append(hints, pii.ParseHint(string(bytes.Trim(f, `" `))))
	}
	return hints
}

func sep(tsv bool) byte {
	if tsv {
		return '\t'
	}
	return ','
}

// splitFields splits a CSV line on sep outside double quotes.
func splitFields(line []byte, sep byte) [][]byte {
	var out [][]byte
	start, quoted := 0, false
	for i, c := range line {
		switch {
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			out = append(out, line[start:i])
			start = i + 1
		}
	}
	return append(out, line[start:])
}

// scanJob runs the detectors over one chunk and merges what it found.
func (r *run) scanJob(j job) {
	type key struct {
		line   int
		entity pii.Entity
	}
	local := map[key]*Finding{}
	var order []key
	minConf := r.s.o.MinConfidence
	add := func(line int, m pii.Match, v []byte) {
		if m.Confidence < minConf {
			return
		}
		k := key{line, m.Entity}
		if f, ok := local[k]; ok {
			f.Count++
			f.Confidence = max(f.Confidence, m.Confidence)
			return
		}
		local[k] = &Finding{Entity: m.Entity, Location: Location{Path: j.path, Line: line},
			Confidence: m.Confidence, Count: 1, Sample: pii.Mask(v)}
		order = append(order, k)
	}
	if j.csv {
		line := j.line
		for rest := j.data; len(rest) > 0; {
			l, next := rest, line
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				l, rest, next = rest[:i], rest[i+1:], line+1
			} else {
				rest = nil // a piece of a long line: the next chunk goes on with it
			}
			for c, field := range splitFields(l, sep(j.tsv)) {
				var h pii.Hint
				if c < len(j.hints) {
					h = j.hints[c]
				}
				r.s.det.Scan(field, h, func(m pii.Match) { add(line, m, field[m.Start:m.End]) })
			}
			line = next
		}
	} else {
		pos, line := 0, j.line
		r.s.det.Scan(j.data, 0, func(m pii.Match) {
			line += bytes.Count(j.data[pos:m.Start], []byte{'\n'})
			pos = m.Start
			add(line, m, j.data[m.Start:m.End])
		})
	}
	for _, k := range order {
		r.col.add(*local[k])
	}
}

// peekReader is a reader that can look ahead without consuming.
type peekReader struct {
	r   io.Reader
	buf []byte
	err error
}

func newPeekReader(r io.Reader) *peekReader { return &peekReader{r: r} }

func (p *peekReader) peek(n int) []byte {
	for len(p.buf) < n && p.err == nil {
		b := make([]byte, n-len(p.buf))
		m, err := io.ReadFull(p.r, b)
		p.buf = append(p.buf, b[:m]...)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		p.err = err
	}
	return p.buf[:min(n, len(p.buf))]
}

// line consumes and returns the first line, newline included, or the
// first max bytes when the line is longer.
func (p *peekReader) line(max int) []byte {
	for size := 512; ; size *= 2 {
		size = min(size, max)
		b := p.peek(size)
		n := len(b)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			n = i + 1
		} else if len(b) == size && size < max {
			continue
		}
		out := bytes.Clone(b[:n])
		p.buf = p.buf[n:]
		return out
	}
}

func (p *peekReader) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	if p.err != nil {
		return 0, p.err
	}
	return p.r.Read(b)
}
