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

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/keyring"
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
	in := newSecretReader(env)
	a, err := in.line(prompt)
	if err != nil || !confirm || in.fd < 0 {
		return a, err
	}
	b, err := in.line("again: ")
	if err != nil {
		return "", err
	}
	if a != b {
		return "", errors.New("the two entries differ")
	}
	return a, nil
}

// secretReader reads secrets from standard input one line at a time: on a
// terminal after a prompt on standard error, without echo.
type secretReader struct {
	env *Env
	fd  int           // the terminal's descriptor, or -1
	br  *bufio.Reader // not a terminal: one reader for every line
}

func newSecretReader(env *Env) *secretReader {
	if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &secretReader{env: env, fd: int(f.Fd())}
	}
	return &secretReader{env: env, fd: -1, br: bufio.NewReader(env.Stdin)}
}

func (r *secretReader) line(prompt string) (string, error) {
	if r.fd >= 0 {
		fmt.Fprint(r.env.Stderr, prompt)
		b, err := term.ReadPassword(r.fd)
		fmt.Fprintln(r.env.Stderr)
		if err != nil {
			return "", err
		}
		if len(b) == 0 {
			return "", errors.New("nothing entered")
		}
		return string(b), nil
	}
	line, err := r.br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("standard input is empty: give the secret on one line (never as an argument)")
	}
	return line, nil
}

// openKeys opens a configuration's key source in this process, for an
// offline verb (backup restore) that needs the root keys: the file and
// pkcs11 providers need no input; passphrase reads the passphrase from
// standard input, shamir one share per line until the threshold (a
// "share N: " line copied from coffer init is accepted), as coffer unseal
// reads them. A wrong input ends it: there is nothing to retry against.
func openKeys(env *Env, cfg config.Config) (*coffer.RootKeys, error) {
	keys, u, err := keyring.Start(keySource(cfg))
	if err != nil {
		return nil, err
	}
	if u == nil {
		return keys.Root, nil
	}
	shamir := cfg.Keys.Provider == keyring.ProviderShamir
	in := newSecretReader(env)
	for {
		p := u.Progress()
		prompt := "passphrase: "
		if shamir {
			prompt = fmt.Sprintf("share %d of %d: ", p.Have+1, p.Need)
		}
		secret, err := in.line(prompt)
		if err != nil && shamir {
			return nil, fmt.Errorf("%d of %d shares given: %w", p.Have, p.Need, err)
		}
		if err != nil {
			return nil, err
		}
		if shamir {
			secret = sharePrefixRE.ReplaceAllString(secret, "")
		}
		root, _, err := u.Add([]byte(secret))
		if err != nil {
			return nil, err
		}
		if root != nil {
			defer root.Destroy()
			k, err := u.Derive(root)
			if err != nil {
				return nil, err
			}
			return k.Root, nil
		}
	}
}
