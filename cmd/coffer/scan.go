package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/cofferhq/coffer/internal/inventory"
	"github.com/cofferhq/coffer/internal/pii"
	"github.com/cofferhq/coffer/internal/scan"
)

type scanCmd struct {
	Targets       []string `arg:"" name:"path|dsn" help:"Files, directories, - for standard input, SQLite files, postgres:// DSNs."`
	Format        string   `short:"f" enum:"text,json,sarif" default:"text" help:"Report format: text, json or sarif (2.1.0)."`
	Inventory     string   `type:"existingfile" help:"inventory.yaml: mark findings in places it does not declare as undeclared."`
	Region        string   `help:"Country (ISO 3166, e.g. DE) for phone numbers written in national format."`
	Full          bool     `help:"Read every row of PostgreSQL tables instead of a sample."`
	Sample        int      `default:"1000" help:"Rows sampled per PostgreSQL table."`
	Entities      []string `sep:"," help:"Only these entities (email, phone, card, iban, ssn, ipv4, ipv6, date_of_birth, person_name)."`
	MinConfidence float64  `default:"0.6" help:"Drop matches below this confidence (0-1)."`
	MaxPerFile    int      `default:"1000" help:"Lines listed per file and entity; later ones are counted together."`
	Workers       int      `help:"Parallel workers (default: one per CPU)."`
}

func (c *scanCmd) Run(env *Env) error {
	var set pii.Set
	for _, name := range c.Entities {
		e, err := pii.ParseEntity(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		set |= pii.SetOf(e)
	}
	if c.MinConfidence <= 0 || c.MinConfidence > 1 {
		return fmt.Errorf("--min-confidence must be in (0, 1]")
	}
	var inv *inventory.Inventory
	if c.Inventory != "" {
		var err error
		if inv, err = inventory.Load(c.Inventory); err != nil {
			return err
		}
	}
	o := scan.Options{Region: c.Region, Entities: set, MinConfidence: c.MinConfidence, Workers: c.Workers,
		MaxPerFile: c.MaxPerFile, Full: c.Full, SampleRows: c.Sample, Stdin: env.Stdin,
		Warn: func(format string, args ...any) { fmt.Fprintf(env.Stderr, "coffer scan: "+format+"\n", args...) }}
	if env.IsTerminal {
		bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(env.Stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("scanning"), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(), progressbar.OptionSpinnerType(14))
		o.Progress = func(n int64) { bar.Add64(n) }
		defer bar.Finish()
	}
	r, err := scan.New(o).Scan(env.Ctx, c.Targets)
	if err != nil {
		return err
	}
	if inv != nil {
		for i, f := range r.Findings {
			p := inventory.Place{Path: f.Location.Path, Database: f.Location.Database, Table: f.Location.Table}
			r.Findings[i].Undeclared = !inv.Declares(p, f.Entity.String())
		}
	}
	switch c.Format {
	case "json":
		err = scan.WriteJSON(env.Stdout, r)
	case "sarif":
		err = scan.WriteSARIF(env.Stdout, r, version())
	default:
		err = scan.WriteText(env.Stdout, r)
	}
	if err != nil {
		return err
	}
	if c.Format != "text" {
		mbps := 0.0
		if r.Stats.Seconds > 0 {
			mbps = float64(r.Stats.Bytes) / 1e6 / r.Stats.Seconds
		}
		fmt.Fprintf(env.Stderr, "coffer scan: %d findings; read %d files, %d rows, %.1f MB in %.2fs (%.0f MB/s)\n",
			len(r.Findings), r.Stats.Files, r.Stats.Rows, float64(r.Stats.Bytes)/1e6, r.Stats.Seconds, mbps)
	}
	if len(r.Findings) > 0 {
		return exitStatus(exitFindings)
	}
	return nil
}
