package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const corpus = "../../internal/scan/testdata/corpus"
const inventoryFile = "../../internal/inventory/testdata/inventory.yaml"

func TestScanJSON(t *testing.T) {
	code, out, stderr := run(t, nil, "", "scan", corpus, "--format", "json")
	if code != exitFindings {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr)
	}
	var rep struct {
		Findings []struct {
			Entity   string `json:"entity"`
			Location struct {
				Path string `json:"path"`
				Line int    `json:"line"`
			} `json:"location"`
			Confidence float64 `json:"confidence"`
			Count      int     `json:"count"`
			Sample     string  `json:"sample"`
		} `json:"findings"`
		Stats struct {
			Bytes   int64   `json:"bytes"`
			Files   int     `json:"files"`
			Rows    int64   `json:"rows"`
			Seconds float64 `json:"seconds"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err, out)
	}
	if len(rep.Findings) < 50 || rep.Stats.Files != 6 || rep.Stats.Bytes < 5000 {
		t.Errorf("%d findings, stats %+v", len(rep.Findings), rep.Stats)
	}
	f := rep.Findings[0]
	if f.Entity != "email" || !strings.HasSuffix(f.Location.Path, "app.log") || f.Location.Line != 2 || f.Count != 1 ||
		f.Sample != "****.***@******e.com" || f.Confidence != 0.95 {
		t.Errorf("first finding %+v", f)
	}
	if strings.Contains(out, "jane.doe@example.com") {
		t.Error("a value in the report")
	}
	if !strings.Contains(stderr, "skipped") || !strings.Contains(stderr, "MB/s") {
		t.Errorf("stderr: %s", stderr)
	}
}

func TestScanExitCodes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "clean.log"), []byte("2024-05-17T10:22:31Z INFO ok status=200\n"), 0o644)
	if code, out, stderr := run(t, nil, "", "scan", dir); code != exitOK || !strings.Contains(out, "no personal data found") {
		t.Errorf("clean: exit %d, out %q, err %q", code, out, stderr)
	}
	if code, _, stderr := run(t, nil, "", "scan", filepath.Join(dir, "missing")); code != exitError || stderr == "" {
		t.Errorf("missing path: exit %d, %q", code, stderr)
	}
	if code, _, _ := run(t, nil, "", "scan", dir, "--format", "xml"); code != exitError {
		t.Errorf("bad format: exit %d", code)
	}
	if code, _, stderr := run(t, nil, "", "scan", dir, "--entities", "emails"); code != exitError || !strings.Contains(stderr, "unknown entity") {
		t.Errorf("bad entity: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run(t, nil, "", "scan", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=1"); code != exitError || strings.Contains(stderr, "hunter2") {
		t.Errorf("unreachable database: exit %d, stderr %q", code, stderr)
	}
}

func TestScanStdinText(t *testing.T) {
	code, out, _ := run(t, nil, "call +44 20 7946 0958 or mail ann@example.org\n", "scan", "-", "--entities", "phone")
	if code != exitFindings {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, "-:1") || !strings.Contains(out, "phone") || strings.Contains(out, "email") || strings.Contains(out, "7946 0958") {
		t.Errorf("out:\n%s", out)
	}
}

func TestScanSARIFUndeclared(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o755)
	os.WriteFile(filepath.Join(logs, "api.log"), []byte("from 203.0.113.9\nuser ann@example.org\n"), 0o644)
	inv, _ := os.ReadFile(inventoryFile)
	invPath := filepath.Join(dir, "inventory.yaml")
	os.WriteFile(invPath, []byte(strings.ReplaceAll(string(inv), `"logs/*.log"`, `"`+logs+`"`)), 0o644)
	code, out, stderr := run(t, nil, "", "scan", logs, "--format", "sarif", "--inventory", invPath)
	if code != exitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID     string         `json:"ruleId"`
				Level      string         `json:"level"`
				Properties map[string]any `json:"properties"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range log.Runs[0].Results {
		got[r.RuleID] = r.Level
	}
	// The logs are declared for online identifiers, not for e-mail.
	if log.Version != "2.1.0" || got["pii/ipv4"] != "warning" || got["pii/email"] != "error" {
		t.Errorf("version %s, results %v", log.Version, got)
	}
}

func TestRopaAndNotice(t *testing.T) {
	for format, want := range map[string]string{
		"md":   "# Record of processing activities (GDPR Art. 30(1))",
		"csv":  "controller,representative,dpo,activity,purpose",
		"json": `"security_measures": [`,
	} {
		code, out, stderr := run(t, nil, "", "ropa", "--inventory", inventoryFile, "--format", format)
		if code != exitOK || !strings.Contains(out, want) || !strings.Contains(out, "Paper invoices") {
			t.Errorf("ropa %s: exit %d, %s\n%.300s", format, code, stderr, out)
		}
	}
	path := filepath.Join(t.TempDir(), "notice.html")
	if code, _, stderr := run(t, nil, "", "notice", "--inventory", inventoryFile, "-o", path); code != exitOK {
		t.Fatalf("notice: exit %d %s", code, stderr)
	}
	html, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(html), "<!doctype html>") || !strings.Contains(string(html), "Your rights") {
		t.Errorf("notice:\n%.300s", html)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("controller: {name: X}\n"), 0o644)
	if code, _, stderr := run(t, nil, "", "ropa", "--inventory", bad); code != exitError || !strings.Contains(stderr, "purposes") {
		t.Errorf("invalid inventory: exit %d, %s", code, stderr)
	}
}
