package main

import (
	"fmt"

	"github.com/cofferhq/coffer/client"
)

// Client verbs for consents (SPEC §9) and the retention sweep.

type consentsCmd struct {
	clientConn
	Get consentsGetCmd `cmd:"" help:"Show a subject's current consents and their history."`
	Set consentsSetCmd `cmd:"" help:"Grant or withdraw a subject's consent to a purpose."`
}

type consentsGetCmd struct {
	Subject string `arg:"" help:"Subject id."`
}

func (c *consentsGetCmd) Run(env *Env, cl *client.Client) error {
	out, err := cl.Subjects().Consents(env.Ctx, c.Subject)
	if err != nil {
		return err
	}
	return printJSON(env, out)
}

type consentsSetCmd struct {
	Subject       string `arg:"" help:"Subject id."`
	Purpose       string `arg:"" help:"Purpose from the schema."`
	Granted       bool   `required:"" help:"--granted=true grants, --granted=false withdraws."`
	Source        string `help:"Where the consent was given or withdrawn (e.g. web-form)."`
	NoticeVersion string `name:"notice-version" help:"Version of the privacy notice shown."`
	GPC           bool   `name:"gpc" help:"The customer's agent sent a Global Privacy Control opt-out (Sec-GPC: 1): withdraw sale and sharing purposes too."`
}

func (c *consentsSetCmd) Run(env *Env, cl *client.Client) error {
	ch := client.ConsentChange{Granted: c.Granted, Source: c.Source, NoticeVersion: c.NoticeVersion, GPC: c.GPC}
	if err := cl.Subjects().SetConsent(env.Ctx, c.Subject, c.Purpose, ch); err != nil {
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
	clientConn
	DryRun bool `name:"dry-run" help:"Report what would be deleted; delete nothing."`
}

func (c *retentionCmd) Run(env *Env, cl *client.Client) error {
	rep, err := cl.Retention().Sweep(env.Ctx, c.DryRun)
	if err != nil {
		return err
	}
	return printJSON(env, rep)
}
