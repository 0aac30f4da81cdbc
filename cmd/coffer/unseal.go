package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"golang.org/x/term"

	"github.com/cofferhq/coffer/client"
)

// unsealCmd reads one secret from standard input, never from argv (it
// would land in shell history and the process list).
type unsealCmd struct {
	connFlags
}

// sharePrefixRE strips the "share 2: " coffer init printed before a share.
var sharePrefixRE = regexp.MustCompile(`^share \d+:\s*`)

func (c *unsealCmd) Run(env *Env) error {
	cl, err := client.New(c.resolve(env))
	if err != nil {
		return err
	}
	secret, err := readSecret(env, "passphrase or share: ", false)
	if err != nil {
		return err
	}
	var in client.UnsealInput
	if s := sharePrefixRE.ReplaceAllString(secret, ""); strings.HasPrefix(s, "coffer-share-") {
		in.Share = s
	} else {
		in.Passphrase = secret
	}
	st, err := cl.System().Unseal(env.Ctx, in)
	if err != nil {
		return err
	}
	if st.Sealed {
		fmt.Fprintf(env.Stderr, "still sealed: %s shares given\n", st.Progress)
		return nil
	}
	fmt.Fprintln(env.Stderr, "unsealed")
	return nil
}

type sealCmd struct{ clientConn }

func (c *sealCmd) Run(env *Env, cl *client.Client) error {
	if _, err := cl.System().Seal(env.Ctx); err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, "sealed: every key dropped; coffer unseal opens it again")
	return nil
}

// readSecret reads one line of standard input. On a terminal it prompts
// on standard error without echo, and with confirm asks twice.
func readSecret(env *Env, prompt string, confirm bool) (string, error) {
	if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.Stderr, prompt)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", err
		}
		if confirm {
			fmt.Fprint(env.Stderr, "again: ")
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(env.Stderr)
			if err != nil {
				return "", err
			}
			if string(a) != string(b) {
				return "", errors.New("the two entries differ")
			}
		}
		if len(a) == 0 {
			return "", errors.New("nothing entered")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("standard input is empty: give the secret on one line (never as an argument)")
	}
	return line, nil
}
