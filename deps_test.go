package coffer_test

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cofferhq/coffer"

// layer is what one package of the module may depend on, transitively,
// inside the module (the domain package, the root, is always allowed; the
// standard library and third-party modules are not this test's business,
// except for the root itself).
type layer struct {
	allow  []string // module packages, relative ("internal/seal")
	direct []string // of those, ones it must not import itself
	why    string
}

// The vault's use cases and what they build on.
var vaultDeps = []string{"internal/audit", "internal/fpe", "internal/identity", "internal/pii", "internal/policy",
	"internal/rights", "internal/schema", "internal/seal", "internal/token"}

// layers is the architecture of STYLE.md as an allowlist, like tailscale's
// tstest/deptest: cmd → api → vault → policy/seal/audit/… → coffer, stores
// implementing the domain's interfaces beside them. Every package of the
// module must be listed; a dependency not listed fails.
var layers = map[string]layer{
	"": {why: "the domain: types, role interfaces, errors; the standard library only"},

	// Pure building blocks: nothing of the module but the domain.
	"internal/fpe":      {why: "FF1 / FF3-1 primitives, pure"},
	"internal/token":    {why: "token formats, pure"},
	"internal/pii":      {why: "detectors, pure"},
	"internal/identity": {why: "passwords and TOTP, pure"},
	"internal/rights":   {why: "data-subject request rules and clocks, pure"},
	"internal/audit":    {why: "hash chain, signing, verification over the domain's entries"},
	"internal/seal":     {why: "envelope encryption and blind indexes: keys, never stores or decisions"},
	"internal/policy":   {why: "the access decision as a pure function of the domain"},
	"internal/keyring":  {why: "root-key providers: produce coffer.RootKeys, know nothing above"},
	"internal/config":   {why: "configuration as a value; core code never imports it"},
	"internal/server":   {why: "http.Server assembly (TLS, headers), knows nothing of Coffer"},
	"internal/schema":   {allow: []string{"internal/pii", "internal/token"}, why: "parses and normalizes with the detectors' and tokens' checks"},
	"internal/datadir":  {why: "one serving process per data directory (flock), knows nothing of Coffer"},
	"internal/backup":   {why: "the backup file format (age, frames, signed manifest): rows in, rows out, no store or key of its own"},

	// Stores implement the domain's interfaces; they never decide access
	// nor hold keys.
	"internal/sqlstore":  {allow: []string{"internal/audit"}, why: "every SQL statement once, the one order a Change is applied in, the shared writer"},
	"internal/sqlite":    {allow: []string{"internal/audit", "internal/sqlstore"}, why: "a store: open, migrations, its writer and dialect; no policy, seal or vault"},
	"internal/postgres":  {allow: []string{"internal/audit", "internal/sqlstore"}, why: "a store: open, migrations, its writer and dialect; no policy, seal or vault"},
	"internal/storetest": {allow: []string{"internal/audit", "internal/canary"}, why: "the stores' conformance suite speaks the domain's interfaces only"},
	"internal/canary":    {why: "plants and finds canary values in bytes, text and files (tests of every layer)"},
	"internal/pgtest":    {why: "a PostgreSQL schema of its own per test, on COFFER_TEST_POSTGRES (tests of every layer)"},

	// The use cases, and the handlers over them.
	"internal/vault": {allow: vaultDeps, why: "use cases over policy, seal, audit and the domain; never a store adapter, a handler or the configuration"},
	"internal/api": {allow: append([]string{"internal/vault"}, vaultDeps...),
		direct: []string{"internal/seal", "internal/policy", "internal/keyring"},
		why:    "handlers reach stores and keys only through the vault's use cases"},

	// Discovery stands alone.
	"internal/inventory":   {allow: []string{"internal/pii"}, why: "data inventory over the detectors"},
	"internal/scan":        {allow: []string{"internal/pii"}, why: "scanner: sources use database drivers directly, detectors from pii"},
	"internal/scan/loggen": {why: "test-data generator"},
	"internal/scan/gen":    {allow: []string{"internal/scan/loggen"}, why: "test-data generator command"},

	// Outside: documents, the SDK, the binary.
	"examples": {why: "embedded example schemas"},
	"openapi":  {why: "the embedded OpenAPI document"},
	"client":   {why: "the public SDK speaks HTTP only"},
	"cmd/coffer": {allow: []string{"client", "examples", "openapi", "internal/api", "internal/audit", "internal/config", "internal/fpe",
		"internal/identity", "internal/inventory", "internal/keyring", "internal/datadir", "internal/backup", "internal/pii", "internal/policy", "internal/postgres", "internal/rights",
		"internal/scan", "internal/schema", "internal/seal", "internal/server", "internal/sqlite", "internal/sqlstore",
		"internal/token", "internal/vault"}, why: "the one binary wires everything"},
}

// pkgInfo is one package as go list describes it.
type pkgInfo struct {
	path     string // relative to the module, "" for the root
	deps     []string
	imports  []string
	external []string // non-standard dependencies outside the module
}

// listPackages runs go list over the module: each package's transitive
// (.Deps) and direct (.Imports) dependencies, test files excluded.
func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to check dependencies: %v", err)
	}
	const format = `{{.ImportPath}}|{{join .Deps " "}}|{{join .Imports " "}}`
	out, err := exec.Command(gobin, "list", "-f", format, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	std, err := exec.Command(gobin, "list", "std").Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	isStd := map[string]bool{}
	for _, p := range strings.Fields(string(std)) {
		isStd[p] = true
	}
	rel := func(p string) (string, bool) {
		if p == module {
			return "", true
		}
		r, ok := strings.CutPrefix(p, module+"/")
		return r, ok
	}
	var pkgs []pkgInfo
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 3 {
			t.Fatalf("go list: unexpected line %q", sc.Text())
		}
		path, ok := rel(f[0])
		if !ok {
			continue
		}
		p := pkgInfo{path: path}
		for _, d := range strings.Fields(f[1]) {
			if r, ok := rel(d); ok {
				p.deps = append(p.deps, r)
			} else if !isStd[d] && !strings.HasPrefix(d, "vendor/") {
				p.external = append(p.external, d)
			}
		}
		for _, d := range strings.Fields(f[2]) {
			if r, ok := rel(d); ok {
				p.imports = append(p.imports, r)
			}
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages of the module: run the test from the module", len(pkgs))
	}
	return pkgs
}

// TestDependencies holds the layers: each package of the module depends,
// transitively, only on the module packages its layer allows.
func TestDependencies(t *testing.T) {
	pkgs := listPackages(t)
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.path] = true
		name := p.path
		if name == "" {
			name = module
		}
		l, ok := layers[p.path]
		if !ok {
			t.Errorf("%s is in no layer: add it to layers in deps_test.go with what it may import and why", name)
			continue
		}
		if p.path == "" && len(p.external) > 0 {
			t.Errorf("%s depends on %v: the domain imports the standard library only", name, p.external)
		}
		for _, d := range p.deps {
			if d == "" && p.path != "" {
				continue // every layer may use the domain
			}
			if !slices.Contains(l.allow, d) {
				t.Errorf("%s depends on %s/%s, which its layer does not allow (%s)", name, module, d, l.why)
			}
		}
		for _, d := range p.imports {
			if slices.Contains(l.direct, d) {
				t.Errorf("%s imports %s/%s directly, against its layer (%s)", name, module, d, l.why)
			}
		}
	}
	for path := range layers {
		if !seen[path] {
			t.Errorf("layer %q names no package of the module (stale rule?)", path)
		}
	}
}

// maxMethods bounds a type's exported methods: past it a type is a hub
// (STYLE.md). The store adapters (sqlite, postgres and the SQL they share
// in sqlstore) implement every role interface of coffer.Store on one type
// and are exempt.
const maxMethods = 20

var hubExempt = map[string]bool{"internal/sqlite": true, "internal/postgres": true, "internal/sqlstore": true}

// TestNoHubTypes counts the exported methods declared on each type of the
// module (promoted ones aside).
func TestNoHubTypes(t *testing.T) {
	for _, p := range listPackages(t) {
		if hubExempt[p.path] {
			continue
		}
		dir := p.path
		if dir == "" {
			dir = "."
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range af.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Recv == nil || !fd.Name.IsExported() {
					continue
				}
				typ := fd.Recv.List[0].Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				if ix, ok := typ.(*ast.IndexExpr); ok {
					typ = ix.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					counts[id.Name]++
				}
			}
		}
		for typ, n := range counts {
			if n > maxMethods {
				t.Errorf("%s.%s has %d exported methods (at most %d): split it by concern", p.path, typ, n, maxMethods)
			}
		}
	}
}
