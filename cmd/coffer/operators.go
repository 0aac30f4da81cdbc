package main

import (
	"fmt"
	"time"

	"github.com/cofferhq/coffer/client"
)

// operatorsCmd are the client verbs for operators.
type operatorsCmd struct {
	clientConn
	Create   operatorCreateCmd   `cmd:"" help:"Create an operator; prints its single-use enrollment link (72 h) to pass on."`
	List     operatorListCmd     `cmd:"" help:"List operators."`
	Lock     operatorLockCmd     `cmd:"" help:"Lock an operator and end its sessions."`
	Unlock   operatorUnlockCmd   `cmd:"" help:"Unlock an operator."`
	Training operatorTrainingCmd `cmd:"" help:"Record that an operator completed security training."`
}

type operatorCreateCmd struct {
	Username string `arg:""`
	Role     string `required:"" help:"Role from the schema."`
}

func (c *operatorCreateCmd) Run(env *Env, cl *client.Client) error {
	// The operator chooses the password and scans the TOTP seed through
	// the link; the admin never sees either.
	out, err := cl.Operators().Create(env.Ctx, client.NewOperator{Username: c.Username, Role: c.Role})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "created operator %s; pass this single-use enrollment link on to them (valid until %s, shown once):\n",
		c.Username, out.ExpiresAt.Format(time.RFC3339))
	fmt.Fprintln(env.Stdout, out.EnrollmentURL)
	return nil
}

type operatorListCmd struct{}

func (c *operatorListCmd) Run(env *Env, cl *client.Client) error {
	ops, err := cl.Operators().List(env.Ctx)
	if err != nil {
		return err
	}
	return printJSON(env, map[string]any{"operators": ops})
}

type operatorLockCmd struct {
	Username string `arg:""`
}

func (c *operatorLockCmd) Run(env *Env, cl *client.Client) error {
	return done(env, c.Username, "lock", cl.Operators().Lock(env.Ctx, c.Username))
}

type operatorUnlockCmd struct {
	Username string `arg:""`
}

func (c *operatorUnlockCmd) Run(env *Env, cl *client.Client) error {
	return done(env, c.Username, "unlock", cl.Operators().Unlock(env.Ctx, c.Username))
}

type operatorTrainingCmd struct {
	Username    string    `arg:""`
	CompletedAt time.Time `help:"When the training was completed (RFC 3339; default now)."`
}

func (c *operatorTrainingCmd) Run(env *Env, cl *client.Client) error {
	return done(env, c.Username, "training", cl.Operators().Training(env.Ctx, c.Username, c.CompletedAt))
}

// done reports an operator action that answers nothing.
func done(env *Env, username, verb string, err error) error {
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%s: %s done\n", username, verb)
	return nil
}
