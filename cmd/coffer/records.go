package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer/client"
)

// dataFlags are shared by the record verbs.
type dataFlags struct {
	Purpose    string `short:"p" help:"Purpose of the call (Coffer-Purpose header)." required:""`
	Collection string `short:"c" help:"Collection." default:"customers"`
}

type recordsCmd struct {
	clientConn
	Put    recordsPutCmd    `cmd:"" help:"Create a record from field=value pairs or a JSON object."`
	Get    recordsGetCmd    `cmd:"" help:"Read a record by id."`
	Search recordsSearchCmd `cmd:"" help:"Find records by exact field values."`
}

type recordsPutCmd struct {
	dataFlags
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

func (c *recordsPutCmd) Run(env *Env, cl *client.Client) error {
	fields, err := parseFields(env, c.Fields)
	if err != nil {
		return err
	}
	out, err := cl.Records().Create(env.Ctx, c.Purpose, c.Collection, client.NewRecord{Subject: c.Subject, Fields: fields})
	if err != nil {
		return err
	}
	return printJSON(env, out)
}

type recordsGetCmd struct {
	dataFlags
	ID string `arg:"" help:"Record id (rec_…)."`
}

func (c *recordsGetCmd) Run(env *Env, cl *client.Client) error {
	rec, err := cl.Records().Get(env.Ctx, c.Purpose, c.Collection, c.ID)
	if err != nil {
		return err
	}
	return printJSON(env, rec)
}

type recordsSearchCmd struct {
	dataFlags
	Limit int      `help:"Most records to return." default:"50"`
	Where []string `arg:"" help:"field=value pairs (exact match on searchable fields)."`
}

func (c *recordsSearchCmd) Run(env *Env, cl *client.Client) error {
	where, err := parseFields(env, c.Where)
	if err != nil {
		return err
	}
	recs, err := cl.Records().Search(env.Ctx, c.Purpose, c.Collection, where, c.Limit)
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
