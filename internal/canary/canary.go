// Package canary finds planted values where they must never be: tests
// plant a canary (a distinctive plaintext, a key) and, after the run,
// search the database files, the WAL, logs or responses for it. It is for
// tests only (it reports through testing.TB) and is shared by the store
// suite (internal/storetest), the vault's tests and the end-to-end tests.
package canary

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// New returns a canary: a value named after what it stands for, unlikely
// to occur by chance ("CANARY-email-…").
func New(what string) string { return "CANARY-" + what + "-7f3a9c1e" }

// InBytes fails t for each canary found in b; where names b in the failure.
func InBytes(t testing.TB, where string, b []byte, canaries ...string) {
	t.Helper()
	for _, c := range canaries {
		if bytes.Contains(b, []byte(c)) {
			t.Errorf("canary %q found in %s", c, where)
		}
	}
}

// InText is InBytes for text (logs, responses).
func InText(t testing.TB, where, text string, canaries ...string) {
	t.Helper()
	for _, c := range canaries {
		if strings.Contains(text, c) {
			t.Errorf("canary %q found in %s", c, where)
		}
	}
}

// InDir fails t for each canary found in a file under dir (the database,
// its WAL and shared memory, key files), and when dir holds no file at all
// (a scan of nothing proves nothing).
func InDir(t testing.TB, dir string, canaries ...string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		InBytes(t, path, b, canaries...)
		return nil
	})
	if err != nil {
		t.Fatalf("canary scan of %s: %v", dir, err)
	}
	if files == 0 {
		t.Errorf("canary scan of %s: no file to scan", dir)
	}
}
