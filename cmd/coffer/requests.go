package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cofferhq/coffer/client"
)

// Client verbs for data-subject requests (SPEC §9). Like the other client
// verbs they use --addr/COFFER_ADDR and --token/COFFER_TOKEN, and a server
// error is printed as the API's message (exit 2).

type requestsCmd struct {
	clientConn
	Create   requestCreateCmd   `cmd:"" help:"Record a data-subject request (it starts unverified)."`
	List     requestListCmd     `cmd:"" help:"List requests."`
	Get      requestGetCmd      `cmd:"" help:"Show one request."`
	Verify   requestVerifyCmd   `cmd:"" help:"Mark the requester's identity as verified (unverified → open)."`
	Start    requestStartCmd    `cmd:"" help:"Start work on a request (open → in_progress)."`
	Complete requestCompleteCmd `cmd:"" help:"Complete a request; for an erasure this erases the subject."`
	Deny     requestDenyCmd     `cmd:"" help:"Deny a request, with the reason told to the requester."`
	Extend   requestExtendCmd   `cmd:"" help:"Extend a request's deadline once, with a reason."`
	Export   requestExportCmd   `cmd:"" help:"Download the subject's export for an access request (JSON, or a zip of CSV files)."`
}

type requestCreateCmd struct {
	Kind    string `required:"" help:"access, erasure, rectification, restriction, objection or opt_out."`
	Subject string `required:"" help:"Subject id."`
	Regime  string `required:"" enum:"gdpr,ccpa" help:"gdpr or ccpa (sets the statutory clock)."`
}

func (c *requestCreateCmd) Run(env *Env, cl *client.Client) error {
	return printResult(env)(cl.Requests().Create(env.Ctx, client.NewRequest{Kind: c.Kind, Subject: c.Subject, Regime: c.Regime}))
}

type requestListCmd struct {
	Status  string `help:"Only requests in this status (unverified, open, in_progress, completed, denied)."`
	Overdue bool   `help:"Only requests past their deadline and not final."`
}

func (c *requestListCmd) Run(env *Env, cl *client.Client) error {
	rs, err := cl.Requests().List(env.Ctx, client.RequestFilter{Status: c.Status, Overdue: c.Overdue})
	if err != nil {
		return err
	}
	return printJSON(env, map[string]any{"requests": rs})
}

// requestID is the argument of the verbs acting on one request.
type requestID struct {
	ID string `arg:"" help:"Request id (req_…)."`
}

type requestGetCmd struct{ requestID }

func (c *requestGetCmd) Run(env *Env, cl *client.Client) error {
	return printResult(env)(cl.Requests().Get(env.Ctx, c.ID))
}

type requestVerifyCmd struct{ requestID }

func (c *requestVerifyCmd) Run(env *Env, cl *client.Client) error {
	return printResult(env)(cl.Requests().Verify(env.Ctx, c.ID))
}

type requestStartCmd struct{ requestID }

func (c *requestStartCmd) Run(env *Env, cl *client.Client) error {
	return printResult(env)(cl.Requests().Start(env.Ctx, c.ID))
}

type requestCompleteCmd struct{ requestID }

func (c *requestCompleteCmd) Run(env *Env, cl *client.Client) error {
	return printResult(env)(cl.Requests().Complete(env.Ctx, c.ID))
}

type requestDenyCmd struct {
	requestID
	Reason string `required:"" help:"Why the request is denied (told to the requester)."`
}

func (c *requestDenyCmd) Run(env *Env, cl *client.Client) error {
	return printResult(env)(cl.Requests().Deny(env.Ctx, c.ID, c.Reason))
}

type requestExtendCmd struct {
	requestID
	Reason string `required:"" help:"Why more time is needed (the law allows one extension)."`
}

func (c *requestExtendCmd) Run(env *Env, cl *client.Client) error {
	return printResult(env)(cl.Requests().Extend(env.Ctx, c.ID, c.Reason))
}

// printResult prints a call's answer, or returns its error:
// printResult(env)(cl.Requests().Get(…)).
func printResult(env *Env) func(*client.Request, error) error {
	return func(r *client.Request, err error) error {
		if err != nil {
			return err
		}
		return printJSON(env, r)
	}
}

type requestExportCmd struct {
	requestID
	Format string `enum:"json,csv" default:"json" help:"json, or csv (a zip of CSV files)."`
	Output string `short:"o" help:"Write to this file (created 0600) instead of standard output."`
}

func (c *requestExportCmd) Run(env *Env, cl *client.Client) error {
	toStdout := c.Output == "" || c.Output == "-"
	if c.Format == "csv" && toStdout && env.StdoutIsTerminal {
		return errors.New("the csv export is a zip file: write it with -o FILE, or redirect standard output")
	}
	if c.Format == "json" {
		out, err := cl.Requests().Export(env.Ctx, c.ID)
		if err != nil {
			return err
		}
		return writeOutput(env, c.Output, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		})
	}
	return writeOutput(env, c.Output, func(w io.Writer) error {
		return cl.Requests().ExportCSV(env.Ctx, c.ID, w)
	})
}

// writeOutput runs write on standard output (path "" or "-") or on a new
// 0600 file at path. The file appears only complete: it is written under
// a temporary name and renamed when write succeeds.
func writeOutput(env *Env, path string, write func(io.Writer) error) error {
	if path == "" || path == "-" {
		return write(env.Stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*") // 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "wrote %s\n", path)
	return nil
}
