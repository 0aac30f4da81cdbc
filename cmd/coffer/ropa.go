package main

import (
	"bytes"
	"io"
	"os"

	"github.com/cofferhq/coffer/internal/inventory"
)

type ropaCmd struct {
	Inventory string `required:"" type:"existingfile" help:"The data inventory (inventory.yaml)."`
	Format    string `short:"f" enum:"md,csv,json" default:"md" help:"md, csv or json."`
	Output    string `short:"o" type:"path" help:"Write to this file instead of standard output."`
}

// Run writes the GDPR Art. 30(1) record of processing activities.
func (c *ropaCmd) Run(env *Env) error {
	inv, err := inventory.Load(c.Inventory)
	if err != nil {
		return err
	}
	rec := inv.Record()
	var b bytes.Buffer
	switch c.Format {
	case "csv":
		err = rec.WriteCSV(&b)
	case "json":
		err = rec.WriteJSON(&b)
	default:
		err = rec.WriteMarkdown(&b)
	}
	if err != nil {
		return err
	}
	return writeOut(env.Stdout, c.Output, b.Bytes())
}

type noticeCmd struct {
	Inventory string `required:"" type:"existingfile" help:"The data inventory (inventory.yaml)."`
	Output    string `short:"o" type:"path" help:"Write to this file instead of standard output."`
}

// Run writes the public privacy notice (HTML).
func (c *noticeCmd) Run(env *Env) error {
	inv, err := inventory.Load(c.Inventory)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := inv.WriteNotice(&b); err != nil {
		return err
	}
	return writeOut(env.Stdout, c.Output, b.Bytes())
}

// writeOut writes a whole document to path, or to w when path is empty.
func writeOut(w io.Writer, path string, data []byte) error {
	if path == "" {
		_, err := w.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
