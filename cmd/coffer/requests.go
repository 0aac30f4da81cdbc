package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/cofferhq/coffer/client"
)

// Client verbs for data-subject rights (SPEC §9): requests, consents and
// the retention sweep. Like the other client verbs they use COFFER_ADDR
// and COFFER_TOKEN, and a server error is printed as the API's message
// (exit 2).

type requestsCmd struct {
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

func (c *requestCreateCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	return callPrint(env, cl, http.MethodPost, "/v1/requests", map[string]string{"kind": c.Kind, "subject": c.Subject, "regime": c.Regime})
}

type requestListCmd struct {
	Status  string `help:"Only requests in this status (unverified, open, in_progress, completed, denied)."`
	Overdue bool   `help:"Only requests past their deadline and not final."`
}

func (c *requestListCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	q := url.Values{}
	if c.Status != "" {
		q.Set("status", c.Status)
	}
	if c.Overdue {
		q.Set("overdue", "true")
	}
	path := "/v1/requests"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return callPrint(env, cl, http.MethodGet, path, nil)
}

// requestID is the argument of the verbs acting on one request.
type requestID struct {
	ID string `arg:"" help:"Request id (req_…)."`
}

func requestPath(id string) string { return "/v1/requests/" + url.PathEscape(id) }

type requestGetCmd struct{ requestID }

func (c *requestGetCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	return callPrint(env, cl, http.MethodGet, requestPath(c.ID), nil)
}

type requestVerifyCmd struct{ requestID }

func (c *requestVerifyCmd) Run(env *Env) error { return requestAct(env, c.ID, "verify", "") }

type requestStartCmd struct{ requestID }

func (c *requestStartCmd) Run(env *Env) error { return requestAct(env, c.ID, "start", "") }

type requestCompleteCmd struct{ requestID }

func (c *requestCompleteCmd) Run(env *Env) error { return requestAct(env, c.ID, "complete", "") }

type requestDenyCmd struct {
	requestID
	Reason string `required:"" help:"Why the request is denied (told to the requester)."`
}

func (c *requestDenyCmd) Run(env *Env) error { return requestAct(env, c.ID, "deny", c.Reason) }

type requestExtendCmd struct {
	requestID
	Reason string `required:"" help:"Why more time is needed (the law allows one extension)."`
}

func (c *requestExtendCmd) Run(env *Env) error { return requestAct(env, c.ID, "extend", c.Reason) }

// requestAct posts one step of a request's life and prints the request.
func requestAct(env *Env, id, action, reason string) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	return callPrint(env, cl, http.MethodPost, requestPath(id)+"/"+action, body)
}

type requestExportCmd struct {
	requestID
	Format string `enum:"json,csv" default:"json" help:"json, or csv (a zip of CSV files)."`
	Output string `short:"o" help:"Write to this file (created 0600) instead of standard output."`
}

func (c *requestExportCmd) Run(env *Env) error {
	toStdout := c.Output == "" || c.Output == "-"
	if c.Format == "csv" && toStdout && env.StdoutIsTerminal {
		return errors.New("the csv export is a zip file: write it with -o FILE, or redirect standard output")
	}
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	path := requestPath(c.ID) + "/export"
	if c.Format == "json" {
		var out json.RawMessage
		if err := cl.Do(env.Ctx, http.MethodGet, path, "", nil, &out); err != nil {
			return err
		}
		return writeOutput(env, c.Output, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		})
	}
	return writeOutput(env, c.Output, func(w io.Writer) error {
		return cl.Download(env.Ctx, path+"?format=csv", "", w)
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

// callPrint makes a call and prints its JSON answer, indented.
func callPrint(env *Env, cl *client.Client, method, path string, body any) error {
	var out json.RawMessage
	if err := cl.Do(env.Ctx, method, path, "", body, &out); err != nil {
		return err
	}
	return printJSON(env, out)
}

// gpcClient returns a client whose calls carry the Global Privacy Control
// signal (Sec-GPC: 1) when gpc is set.
func gpcClient(env *Env, gpc bool) (*client.Client, error) {
	cl, err := newClient(env)
	if err == nil && gpc {
		cl.Header = http.Header{"Sec-Gpc": {"1"}}
	}
	return cl, err
}

type consentsCmd struct {
	Get consentsGetCmd `cmd:"" help:"Show a subject's current consents and their history."`
	Set consentsSetCmd `cmd:"" help:"Grant or withdraw a subject's consent to a purpose."`
}

func consentsPath(subject string) string {
	return "/v1/subjects/" + url.PathEscape(subject) + "/consents"
}

type consentsGetCmd struct {
	Subject string `arg:"" help:"Subject id."`
	GPC     bool   `name:"gpc" help:"Send a Global Privacy Control signal (Sec-GPC: 1): withdraws sale and sharing purposes."`
}

func (c *consentsGetCmd) Run(env *Env) error {
	cl, err := gpcClient(env, c.GPC)
	if err != nil {
		return err
	}
	return callPrint(env, cl, http.MethodGet, consentsPath(c.Subject), nil)
}

type consentsSetCmd struct {
	Subject       string `arg:"" help:"Subject id."`
	Purpose       string `arg:"" help:"Purpose from the schema."`
	Granted       bool   `required:"" help:"--granted=true grants, --granted=false withdraws."`
	Source        string `help:"Where the consent was given or withdrawn (e.g. web-form)."`
	NoticeVersion string `name:"notice-version" help:"Version of the privacy notice shown."`
	GPC           bool   `name:"gpc" help:"Send a Global Privacy Control signal (Sec-GPC: 1): withdraws sale and sharing purposes too."`
}

func (c *consentsSetCmd) Run(env *Env) error {
	cl, err := gpcClient(env, c.GPC)
	if err != nil {
		return err
	}
	body := map[string]any{"granted": c.Granted, "source": c.Source, "notice_version": c.NoticeVersion}
	if err := cl.Do(env.Ctx, http.MethodPut, consentsPath(c.Subject)+"/"+url.PathEscape(c.Purpose), "", body, nil); err != nil {
		return err
	}
	verb := "withdrawn"
	if c.Granted {
		verb = "granted"
	}
	fmt.Fprintf(env.Stderr, "%s: consent to %s %s\n", c.Subject, c.Purpose, verb)
	return nil
}

type retentionCmd struct {
	DryRun bool `name:"dry-run" help:"Report what would be deleted; delete nothing."`
}

func (c *retentionCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	return callPrint(env, cl, http.MethodPost, "/v1/retention/sweep", map[string]bool{"dry_run": c.DryRun})
}
