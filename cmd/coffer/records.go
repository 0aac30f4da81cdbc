package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer/client"
)

// clientFlags are shared by the client verbs. Values come from the
// environment so that tokens stay out of shell history and process lists.
type clientFlags struct {
	Purpose    string `short:"p" help:"Purpose of the call (Coffer-Purpose header)." required:""`
	Collection string `short:"c" help:"Collection." default:"customers"`
}

func newClient(env *Env) (*client.Client, error) {
	addr, token := env.Getenv("COFFER_ADDR"), env.Getenv("COFFER_TOKEN")
	if addr == "" {
		addr = "http://127.0.0.1:8750"
	}
	if token == "" {
		return nil, errors.New("set COFFER_TOKEN to an API key (in --dev: export COFFER_TOKEN=$(cat coffer-dev/dev-admin-token))")
	}
	return client.New(addr, token), nil
}

type recordsCmd struct {
	Put    recordsPutCmd    `cmd:"" help:"Create a record from field=value pairs or a JSON object."`
	Get    recordsGetCmd    `cmd:"" help:"Read a record by id."`
	Search recordsSearchCmd `cmd:"" help:"Find records by exact field values."`
}

type recordsPutCmd struct {
	clientFlags
	Subject string   `short:"s" help:"Subject id (generated when empty)."`
	Fields  []string `arg:"" help:"field=value pairs, or one JSON object (- reads it from stdin)."`
}

// parseFields reads field=value pairs (values are strings unless they are
// JSON literals true/false/null/numbers prefixed with ':=' ) or one JSON
// object.
func parseFields(env *Env, args []string) (map[string]any, error) {
	if len(args) == 1 && (args[0] == "-" || strings.HasPrefix(strings.TrimSpace(args[0]), "{")) {
		dec := json.NewDecoder(strings.NewReader(args[0]))
		if args[0] == "-" {
			dec = json.NewDecoder(env.Stdin)
		}
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("fields: not a JSON object")
		}
		return m, nil
	}
	m := map[string]any{}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, ":="); ok && !strings.Contains(k, "=") {
			var raw json.RawMessage
			if err := json.Unmarshal([]byte(v), &raw); err != nil {
				return nil, fmt.Errorf("field %s: the value after := must be JSON", k)
			}
			m[k] = raw
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("expected field=value (or field:=json), got an argument without '='")
		}
		m[k] = v
	}
	return m, nil
}

func (c *recordsPutCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	fields, err := parseFields(env, c.Fields)
	if err != nil {
		return err
	}
	out, err := cl.CreateRecord(env.Ctx, c.Purpose, c.Collection, client.NewRecord{Subject: c.Subject, Fields: fields})
	if err != nil {
		return err
	}
	return printJSON(env, out)
}

type recordsGetCmd struct {
	clientFlags
	ID string `arg:"" help:"Record id (rec_…)."`
}

func (c *recordsGetCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	rec, err := cl.GetRecord(env.Ctx, c.Purpose, c.Collection, c.ID)
	if err != nil {
		return err
	}
	return printJSON(env, rec)
}

type recordsSearchCmd struct {
	clientFlags
	Limit int      `help:"Most records to return." default:"50"`
	Where []string `arg:"" help:"field=value pairs (exact match on searchable fields)."`
}

func (c *recordsSearchCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	where, err := parseFields(env, c.Where)
	if err != nil {
		return err
	}
	recs, err := cl.Search(env.Ctx, c.Purpose, c.Collection, where, c.Limit)
	if err != nil {
		return err
	}
	return printJSON(env, map[string]any{"records": recs})
}

func printJSON(env *Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
