package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cofferhq/coffer/client"
)

// tokensCmd: the token vault from the command line. Values and tokens are
// read from standard input, one per line, never from arguments (which
// land in shell history and the process list).
type tokensCmd struct {
	clientConn
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

// eachBatch calls fn with the lines of standard input, at most tokenBatch
// at a time, and writes what fn answers one per line. Output line i stands
// for input line i, so a blank line (it would shift every later answer
// onto the wrong row) is refused, as is an answer of another length.
func eachBatch(env *Env, fn func([]string) ([]string, error)) error {
	sc := bufio.NewScanner(env.Stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	var batch []string
	n := 0 // lines read
	flush := func() error {
		first := n - len(batch) + 1
		out, err := fn(batch)
		if err == nil && len(out) != len(batch) {
			err = fmt.Errorf("the server answered %d results for %d lines", len(out), len(batch))
		}
		if err != nil {
			return fmt.Errorf("lines %d–%d: %w", first, n, err)
		}
		for _, o := range out {
			if strings.ContainsAny(o, "\r\n") {
				return fmt.Errorf("lines %d–%d: a result holds a line break; use the HTTP API", first, n)
			}
		}
		batch = nil
		_, err = fmt.Fprintln(env.Stdout, strings.Join(out, "\n"))
		return err
	}
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			return fmt.Errorf("line %d is empty: one value or token per line, no blank lines", n)
		}
		if batch = append(batch, line); len(batch) == tokenBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	if n == 0 {
		return errors.New("nothing on standard input (one per line)")
	}
	if len(batch) > 0 {
		return flush()
	}
	return nil
}

func (c *tokensTokenizeCmd) Run(env *Env, cl *client.Client) error {
	return eachBatch(env, func(lines []string) ([]string, error) {
		vals := make([]client.TokenValue, len(lines))
		for i, l := range lines {
			vals[i] = client.TokenValue{Value: l, Format: c.Format}
		}
		return cl.Tokens().Tokenize(env.Ctx, client.Tokenize{Values: vals, Namespace: c.Namespace, Deterministic: c.Deterministic,
			TTL: c.TTL, CardKeepBIN: c.KeepBIN})
	})
}

type tokensDetokenizeCmd struct {
	Purpose string `short:"p" required:"" help:"Why (Coffer-Purpose); every detokenization is audited."`
}

func (c *tokensDetokenizeCmd) Run(env *Env, cl *client.Client) error {
	return eachBatch(env, func(lines []string) ([]string, error) {
		return cl.Tokens().Detokenize(env.Ctx, c.Purpose, lines)
	})
}

type tokensRevokeCmd struct {
	Token string `arg:"" help:"The token to revoke."`
}

func (c *tokensRevokeCmd) Run(env *Env, cl *client.Client) error {
	return cl.Tokens().Revoke(env.Ctx, c.Token)
}
