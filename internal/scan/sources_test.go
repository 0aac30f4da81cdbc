package scan

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/internal/pii"
)

// brief is a finding without its confidence, for comparisons.
func brief(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, fmt.Sprintf("%s %s x%d %s", f.Location, f.Entity, f.Count, f.Sample))
	}
	return out
}

func TestGolden(t *testing.T) {
	r := scanCorpus(t, Options{})
	r.Stats.Seconds = 0.25
	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"scan.txt", func(b *bytes.Buffer) error { return WriteText(b, r) }},
		{"scan.json", func(b *bytes.Buffer) error { return WriteJSON(b, r) }},
		{"scan.sarif", func(b *bytes.Buffer) error { return WriteSARIF(b, r, "test") }},
	} {
		var b bytes.Buffer
		if err := tc.write(&b); err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "golden", tc.file)
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if diff := cmp.Diff(string(want), b.String()); diff != "" {
			t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", tc.file, diff)
		}
	}
}

// TestNoValueInReports finds every value in the corpus with the detectors
// and checks that no report format prints one of them whole.
func TestNoValueInReports(t *testing.T) {
	r := scanCorpus(t, Options{})
	var out bytes.Buffer
	for _, err := range []error{WriteText(&out, r), WriteJSON(&out, r), WriteSARIF(&out, r, "test")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(r.Findings) == 0 || out.Len() == 0 {
		t.Fatal("nothing reported: the test would prove nothing")
	}
	det := pii.New(pii.Options{})
	files, _ := filepath.Glob("testdata/corpus/*")
	values := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			b.ReadFrom(zr)
			data = b.Bytes()
		}
		det.Scan(data, 0, func(m pii.Match) {
			v := data[m.Start:m.End]
			values++
			if bytes.Contains(out.Bytes(), v) {
				t.Errorf("a report shows %s value %q", m.Entity, v)
			}
		})
	}
	if values < 50 {
		t.Fatalf("only %d values checked", values)
	}
}

// TestChunking: chunks that hold whole lines give the same report. Chunks
// smaller than a line must cut it; then a value cut in two can be missed
// (or its head read as a shorter value), but line numbers stay right.
func TestChunking(t *testing.T) {
	base := scanCorpus(t, Options{Workers: 1})
	want := brief(base)
	for _, size := range []int{256, 4096} {
		got := brief(scanCorpus(t, Options{Workers: 3, ChunkSize: size}))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("chunk size %d (-want +got):\n%s", size, diff)
		}
	}
	lines := map[string]int{}
	for _, f := range base.Findings {
		if _, ok := lines[f.Location.Path]; !ok && !strings.HasSuffix(f.Location.Path, ".gz") {
			data, _ := os.ReadFile(f.Location.Path)
			lines[f.Location.Path] = bytes.Count(data, []byte("\n"))
		}
	}
	for _, size := range []int{16, 100} {
		r := scanCorpus(t, Options{Workers: 3, ChunkSize: size})
		if size >= 100 && len(r.Findings) < len(base.Findings)*3/4 {
			t.Errorf("chunk size %d: %d findings of %d", size, len(r.Findings), len(base.Findings))
		}
		for _, f := range r.Findings {
			if n, ok := lines[f.Location.Path]; ok && (f.Location.Line < 1 || f.Location.Line > n) {
				t.Errorf("chunk size %d: %s is past the file's %d lines", size, f.Location, n)
			}
		}
	}
}

func TestMaxPerFile(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 10 {
		fmt.Fprintf(&b, "user%d@example.com\n", i)
	}
	os.WriteFile(filepath.Join(dir, "a.log"), []byte(b.String()), 0o644)
	r, err := New(Options{MaxPerFile: 3, Workers: 1}).Scan(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "a.log")
	want := []string{p + ":1 email x1 *****@*******.com", p + ":2 email x1 *****@*******.com",
		p + ":3 email x1 *****@*******.com", p + " (further lines) email x7 *****@*******.com"}
	if diff := cmp.Diff(want, brief(r)); diff != "" {
		t.Error(diff)
	}
}

// TestMaxPerFileIsDeterministic: with many workers finishing chunks in
// any order, the lines listed are always the first ones.
func TestMaxPerFileIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&b, "user%d@example.com\n", i)
	}
	p := filepath.Join(dir, "a.log")
	os.WriteFile(p, []byte(b.String()), 0o644)
	want := []string{"1 x1", "2 x1", "3 x1", "4 x1", "5 x1", "0 x19995"}
	for range 10 {
		r, err := New(Options{MaxPerFile: 5, Workers: 8, ChunkSize: 4096}).Scan(context.Background(), []string{p})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range r.Findings {
			got = append(got, fmt.Sprintf("%d x%d", f.Location.Line, f.Count))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatal(diff)
		}
	}
}

func TestStdin(t *testing.T) {
	r, err := New(Options{Stdin: strings.NewReader("x\nmail me: a.b@example.org\n")}).Scan(context.Background(), []string{"-"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"-:2 email x1 *.*@*******.org"}, brief(r)); diff != "" {
		t.Error(diff)
	}
	if r.Stats.Files != 1 || r.Stats.Bytes != 27 {
		t.Errorf("stats %+v", r.Stats)
	}
}

// TestSymlinks: a link inside the root is read; one that leads out of it is
// refused by os.Root and reported as skipped.
func TestSymlinks(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	os.WriteFile(secret, []byte("ceo@example.com\n"), 0o644)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "in.txt"), []byte("ann@example.com\n"), 0o644)
	if err := os.Symlink(secret, filepath.Join(dir, "out.txt")); err != nil {
		t.Skip(err)
	}
	os.Symlink("in.txt", filepath.Join(dir, "link.txt"))
	os.Symlink(outside, filepath.Join(dir, "outdir"))
	var warned []string
	r, err := New(Options{Warn: func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) }}).
		Scan(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "in.txt") + ":1 email x1 ***@*******.com", filepath.Join(dir, "link.txt") + ":1 email x1 ***@*******.com"}
	if diff := cmp.Diff(want, brief(r)); diff != "" {
		t.Error(diff)
	}
	if len(warned) != 2 || !strings.Contains(strings.Join(warned, "\n"), "out.txt") {
		t.Errorf("warnings: %q", warned)
	}
}

func TestSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email VARCHAR(200), phone TEXT, dob TEXT, note, visits INTEGER)`,
		`INSERT INTO customers (name, email, phone, dob, note, visits) VALUES
			('Anna Schmidt', 'anna@example.de', '+49 30 901820', '1984-05-17', 'paid with 4111 1111 1111 1111', 4111111111111111),
			('Blue Widget', 'ops@example.com', '(212) 555-0199', '2001-02-03', NULL, 2),
			('James Wilson', 'not an address', '', '', 'version 1.2.3.4', 1)`,
		`CREATE TABLE "odd ""name""" (v TEXT)`,
		`INSERT INTO "odd ""name""" VALUES ('from 203.0.113.9')`,
		`CREATE TABLE products (sku TEXT, name TEXT)`,
		`INSERT INTO products VALUES ('SKU-1', 'Blue Widget')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Close()
	r, err := New(Options{}).Scan(context.Background(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		path + ` customers.dob date_of_birth x2 ****-**-17`,
		path + ` customers.email email x2 ****@******e.de`,
		path + ` customers.name person_name x2 **** *****dt`,
		path + ` customers.note card x1 **** **** **** 1111`,
		path + ` customers.phone phone x2 +** ** ****20`,
		path + ` odd "name".v ipv4 x1 ***.*.**3.9`,
	}
	if diff := cmp.Diff(want, brief(r)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if r.Stats.Rows != 5 || r.Stats.Files != 1 {
		t.Errorf("stats %+v", r.Stats)
	}
}

// TestPostgres runs when COFFER_TEST_POSTGRES holds a DSN. It creates its
// own schema and drops it afterwards.
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("COFFER_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("COFFER_TEST_POSTGRES not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "coffer_scan_" + hex.EncodeToString(rnd[:])
	t.Cleanup(func() {
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	for _, q := range []string{
		"CREATE SCHEMA " + schema,
		"CREATE TABLE " + schema + ".customers (id serial, full_name text, email varchar(200), profile jsonb, age int)",
		"INSERT INTO " + schema + `.customers (full_name, email, profile, age)
			SELECT 'Anna Schmidt', 'user' || g || '@example.com', '{"ip": "203.0.113.9", "dob": "1984-05-17"}', 40 FROM generate_series(1, 3000) g`,
		"ANALYZE " + schema + ".customers",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
	mine := func(r *Report) []string {
		var out []string
		for _, f := range r.Findings {
			if strings.HasPrefix(f.Location.Table, schema+".") {
				out = append(out, fmt.Sprintf("%s.%s %s x%d", strings.TrimPrefix(f.Location.Table, schema+"."), f.Location.Column, f.Entity, f.Count))
			}
			if strings.Contains(f.Location.Database, "@") || strings.Contains(f.Location.Database, "password") {
				t.Errorf("database label shows credentials: %s", f.Location.Database)
			}
		}
		return out
	}
	sampled, err := New(Options{SampleRows: 100}).Scan(ctx, []string{dsn})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"customers.email email x100", "customers.full_name person_name x100",
		"customers.profile ipv4 x100", "customers.profile date_of_birth x100"}
	if diff := cmp.Diff(want, mine(sampled)); diff != "" {
		t.Errorf("sampled (-want +got):\n%s", diff)
	}
	full, err := New(Options{Full: true}).Scan(ctx, []string{dsn})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"customers.email email x3000", "customers.full_name person_name x3000",
		"customers.profile ipv4 x3000", "customers.profile date_of_birth x3000"}
	if diff := cmp.Diff(want, mine(full)); diff != "" {
		t.Errorf("full (-want +got):\n%s", diff)
	}
}

// TestCSVFirstLine: a CSV file without a header row has data on line 1.
func TestCSVFirstLine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rows.csv"), []byte("jane.doe@example.com,x\nann@example.org,y\n"), 0o644)
	r, err := New(Options{}).Scan(context.Background(), []string{filepath.Join(dir, "rows.csv")})
	if err != nil {
		t.Fatal(err)
	}
	lines := map[int]bool{}
	for _, f := range r.Findings {
		lines[f.Location.Line] = true
	}
	if !lines[1] || !lines[2] {
		t.Fatalf("findings on lines %v, want 1 and 2: %v", lines, brief(r))
	}
}

// TestSecretTargetNotEchoed: a connection string the scanner does not take
// is refused without repeating it (it may hold a password).
func TestSecretTargetNotEchoed(t *testing.T) {
	for _, target := range []string{"mysql://u:hunter2@db/x", "host=db user=u password=hunter2", "postgress://u:hunter2@db/x"} {
		_, err := New(Options{}).Scan(context.Background(), []string{target})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Scan(%q): %v", target, err)
		}
	}
}
