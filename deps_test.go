package coffer_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportDirection holds the architecture of STYLE.md: the domain
// imports only the standard library; handlers never reach stores or keys;
// stores never decide access; inner packages never import outer ones.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/cofferhq/coffer"
	forbidden := map[string][]string{
		".":                  {mod + "/"}, // the domain: standard library only (and no third party, checked below)
		"internal/policy":    {"/internal/vault", "/internal/api", "/internal/sqlite", "/internal/seal", "/internal/server", "/cmd/"},
		"internal/seal":      {"/internal/vault", "/internal/api", "/internal/sqlite", "/internal/policy", "/internal/server", "/cmd/"},
		"internal/audit":     {"/internal/vault", "/internal/api", "/internal/sqlite", "/internal/policy", "/internal/server", "/cmd/"},
		"internal/schema":    {"/internal/vault", "/internal/api", "/internal/sqlite", "/internal/policy", "/internal/server", "/cmd/"},
		"internal/keyring":   {"/internal/vault", "/internal/api", "/internal/sqlite", "/internal/policy", "/internal/server", "/cmd/"},
		"internal/sqlite":    {"/internal/vault", "/internal/api", "/internal/policy", "/internal/seal", "/internal/keyring", "/internal/server", "/cmd/"},
		"internal/postgres":  {"/internal/vault", "/internal/api", "/internal/policy", "/internal/seal", "/internal/keyring", "/internal/server", "/internal/sqlite", "/cmd/"},
		"internal/sqlstore":  {"/internal/vault", "/internal/api", "/internal/policy", "/internal/seal", "/internal/sqlite", "/internal/postgres", "/cmd/"},
		"internal/identity":  {"/internal/vault", "/internal/api", "/internal/sqlite", "/internal/postgres", "/internal/server", "/cmd/"},
		"internal/rights":    {"/internal/vault", "/internal/api", "/internal/sqlite", "/internal/postgres", "/internal/server", "/cmd/"},
		"internal/vault":     {"/internal/api", "/internal/sqlite", "/internal/server", "/cmd/"},
		"internal/api":       {"/internal/sqlite", "/internal/seal", "/internal/keyring", "/internal/policy", "/cmd/"},
		"internal/server":    {mod + "/"},
		"internal/fpe":       {mod + "/"}, // pure primitives: no package of this module
		"internal/token":     {mod + "/"},
		"internal/storetest": {"/internal/vault", "/internal/api", "/cmd/"},
		// Discovery stands alone: detectors are pure, sources use the database drivers directly.
		"internal/pii":       {mod + "/"},
		"internal/scan":      {"/internal/vault", "/internal/api", "/internal/sqlite", "/internal/postgres", "/internal/seal", "/internal/policy", "/internal/server", "/internal/inventory", "/cmd/"},
		"internal/inventory": {"/internal/vault", "/internal/api", "/internal/sqlite", "/internal/postgres", "/internal/seal", "/internal/policy", "/internal/server", "/internal/scan", "/cmd/"},
	}
	for dir, bad := range forbidden {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if len(files) == 0 {
			t.Errorf("%s: no Go files (stale rule?)", dir)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				if dir == "." && strings.Contains(strings.SplitN(path, "/", 2)[0], ".") {
					t.Errorf("%s imports %s: the domain package imports the standard library only", f, path)
				}
				for _, b := range bad {
					if strings.HasPrefix(path, mod) && strings.Contains(path, b) || b == mod+"/" && strings.HasPrefix(path, b) {
						t.Errorf("%s imports %s, against the architecture", f, path)
					}
				}
			}
		}
	}
}
