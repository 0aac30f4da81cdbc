package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// operatorsCmd are the client verbs for operators (COFFER_ADDR, COFFER_TOKEN).
type operatorsCmd struct {
	Create   operatorCreateCmd   `cmd:"" help:"Create an operator; prints the TOTP enrollment URI (the password is read from stdin)."`
	List     operatorListCmd     `cmd:"" help:"List operators."`
	Lock     operatorLockCmd     `cmd:"" help:"Lock an operator and end its sessions."`
	Unlock   operatorUnlockCmd   `cmd:"" help:"Unlock an operator."`
	Training operatorTrainingCmd `cmd:"" help:"Record that an operator completed security training."`
}

type operatorCreateCmd struct {
	Username string `arg:""`
	Role     string `required:"" help:"Role from the schema."`
}

func (c *operatorCreateCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	// The password comes from stdin, never from the command line (process
	// lists and shell history).
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return fmt.Errorf("write the new operator's password on standard input (one line): %v", err)
	}
	var out map[string]string
	if err := cl.Do(env.Ctx, http.MethodPost, "/v1/operators", "", map[string]string{"username": c.Username, "password": pw, "role": c.Role}, &out); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "created operator %s; enroll this URI in an authenticator app (it is shown once):\n", c.Username)
	fmt.Fprintln(env.Stdout, out["totp_uri"])
	return nil
}

type operatorListCmd struct{}

func (c *operatorListCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	var out map[string]any
	if err := cl.Do(env.Ctx, http.MethodGet, "/v1/operators", "", nil, &out); err != nil {
		return err
	}
	return printJSON(env, out)
}

type operatorLockCmd struct {
	Username string `arg:""`
}

func (c *operatorLockCmd) Run(env *Env) error { return operatorPost(env, c.Username, "lock", nil) }

type operatorUnlockCmd struct {
	Username string `arg:""`
}

func (c *operatorUnlockCmd) Run(env *Env) error { return operatorPost(env, c.Username, "unlock", nil) }

type operatorTrainingCmd struct {
	Username    string    `arg:""`
	CompletedAt time.Time `help:"When the training was completed (RFC 3339; default now)."`
}

func (c *operatorTrainingCmd) Run(env *Env) error {
	body := map[string]string{}
	if !c.CompletedAt.IsZero() {
		body["completed_at"] = c.CompletedAt.Format(time.RFC3339)
	}
	return operatorPost(env, c.Username, "training", body)
}

func operatorPost(env *Env, username, verb string, body any) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	if err := cl.Do(env.Ctx, http.MethodPost, "/v1/operators/"+url.PathEscape(username)+"/"+verb, "", body, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%s: %s done\n", username, verb)
	return nil
}
