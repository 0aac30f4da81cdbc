package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/pgtest"
)

// TestServeOnPostgres runs `coffer serve --config` with a PostgreSQL
// database and drives it through the API: create, read, search, a refused
// request, and an intact audit chain.
func TestServeOnPostgres(t *testing.T) {
	schemaDSN := pgtest.Schema(t)
	ctx := context.Background()

	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	if err := keyring.CreateFile(keys); err != nil {
		t.Fatal(err)
	}
	dbFile := filepath.Join(dir, "database")
	os.WriteFile(dbFile, []byte(schemaDSN), 0o600)
	cfg := filepath.Join(dir, "coffer.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("addr: 127.0.0.1:0\ndata: %s\ndatabase_file: %s\nkeys: {provider: file, file: %s}\nschema: %s\n", dir, dbFile, keys, shopSchema(t))), 0o600)

	sctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"serve", "--config", cfg}, &Env{Ctx: sctx, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: pw, Getenv: func(string) string { return "" }})
		pw.Close()
	}()
	var addr string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatal("server did not start")
	}
	defer func() { cancel(); <-done }()

	// Production has no dev token: the first admin key comes from the
	// offline administration verb, on the same database, while it serves.
	code, out, errs := run(t, nil, "", "api-key", "create", "--config", cfg, "--name", "ops", "--role", "admin")
	if code != 0 || !strings.HasPrefix(out, "coffer_") {
		t.Fatalf("api-key create: %d %s %s", code, out, errs)
	}
	token := strings.TrimSpace(out)
	c := &apiClient{t: t, addr: addr, token: token}
	st, m, raw := c.call("POST", "/v1/collections/customers/records", "account", map[string]any{"subject": "cus_pg", "fields": map[string]any{"email": "pg@example.com", "name": "Pat Gres"}})
	if st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	id := m["id"].(string)
	if st, m, raw = c.call("GET", "/v1/collections/customers/records/"+id, "support", nil); st != 200 || m["fields"].(map[string]any)["name"] != "Pat Gres" {
		t.Fatalf("get: %d %s", st, raw)
	}
	if st, m, raw = c.call("POST", "/v1/collections/customers/search", "account", map[string]any{"where": map[string]any{"email": "PG@example.com"}}); st != 200 || len(m["records"].([]any)) != 1 {
		t.Fatalf("search: %d %s", st, raw)
	}
	c.expect(422, "schema_violation", "POST", "/v1/collections/customers/records", "account", map[string]any{"fields": map[string]any{"email": "x@example.com", "shoe": 1}})
	if st, m, raw = c.call("POST", "/v1/audit/verify", "", nil); st != 200 || m["ok"] != true {
		t.Fatalf("audit verify: %d %s", st, raw)
	}
}
