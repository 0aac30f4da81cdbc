package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokensCmd: the token vault from the command line. Values and tokens are
// read from standard input, one per line, never from arguments (which
// land in shell history and the process list).
type tokensCmd struct {
	Tokenize   tokensTokenizeCmd   `cmd:"" help:"Tokenize the values on standard input (one per line); print one token per line."`
	Detokenize tokensDetokenizeCmd `cmd:"" help:"Detokenize the tokens on standard input (one per line); print one value per line."`
	Revoke     tokensRevokeCmd     `cmd:"" help:"Revoke a token."`
}

type tokensTokenizeCmd struct {
	Format        string        `enum:"random,card" default:"random" help:"random (tok_…) or card (digits, last 4 kept, never Luhn-valid)."`
	Namespace     string        `default:"default" help:"Token namespace (the role needs tokens.tokenize on it)."`
	Deterministic bool          `help:"Same value, same token (in this namespace)."`
	TTL           time.Duration `help:"Expire the tokens after this long (e.g. 720h)."`
	KeepBIN       int           `name:"keep-bin" enum:"0,6,8" default:"0" help:"Card tokens: keep the first 6 or 8 digits."`
}

// tokenBatch is how many lines go in one request (the API's maximum).
const tokenBatch = 1000

// eachBatch calls fn with the non-empty lines of standard input, at most
// tokenBatch at a time.
func eachBatch(env *Env, fn func([]string) error) error {
	sc := bufio.NewScanner(env.Stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	var batch []string
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), "\r"); line != "" {
			batch = append(batch, line)
		}
		if len(batch) == tokenBatch {
			if err := fn(batch); err != nil {
				return err
			}
			batch = nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}

func (c *tokensTokenizeCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	n := 0
	err = eachBatch(env, func(lines []string) error {
		vals := make([]map[string]string, len(lines))
		for i, l := range lines {
			vals[i] = map[string]string{"value": l, "format": c.Format}
		}
		body := map[string]any{"values": vals, "namespace": c.Namespace, "deterministic": c.Deterministic, "card_keep_bin": c.KeepBIN}
		if c.TTL > 0 {
			body["ttl"] = c.TTL.String()
		}
		var out struct {
			Tokens []string `json:"tokens"`
		}
		if err := cl.Do(env.Ctx, http.MethodPost, "/v1/tokens", "", body, &out); err != nil {
			return fmt.Errorf("lines %d–%d: %w", n+1, n+len(lines), err)
		}
		n += len(lines)
		_, err := fmt.Fprintln(env.Stdout, strings.Join(out.Tokens, "\n"))
		return err
	})
	if err == nil && n == 0 {
		return errors.New("no values on standard input (one per line)")
	}
	return err
}

type tokensDetokenizeCmd struct {
	Purpose string `short:"p" required:"" help:"Why (Coffer-Purpose); every detokenization is audited."`
}

func (c *tokensDetokenizeCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	n := 0
	err = eachBatch(env, func(lines []string) error {
		var out struct {
			Values []string `json:"values"`
		}
		if err := cl.Do(env.Ctx, http.MethodPost, "/v1/tokens/detokenize", c.Purpose, map[string]any{"tokens": lines}, &out); err != nil {
			return fmt.Errorf("lines %d–%d: %w", n+1, n+len(lines), err)
		}
		n += len(lines)
		_, err := fmt.Fprintln(env.Stdout, strings.Join(out.Values, "\n"))
		return err
	})
	if err == nil && n == 0 {
		return errors.New("no tokens on standard input (one per line)")
	}
	return err
}

type tokensRevokeCmd struct {
	Token string `arg:"" help:"The token to revoke."`
}

func (c *tokensRevokeCmd) Run(env *Env) error {
	cl, err := newClient(env)
	if err != nil {
		return err
	}
	return cl.Do(env.Ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(c.Token), "", nil, nil)
}
