package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/cofferhq/coffer/client"
)

// Exit codes (SPEC §6).
const (
	exitOK       = 0
	exitFindings = 1 // findings, a failed check (scan, verify, doctor)
	exitError    = 2 // usage or runtime error
)

// Env is what a command may touch of the process: streams, environment and
// a context cancelled on SIGINT/SIGTERM. Tests build their own.
type Env struct {
	Ctx    context.Context
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// IsTerminal reports whether Stderr is a terminal (progress bars);
	// StdoutIsTerminal whether Stdout is (binary output is refused there).
	IsTerminal, StdoutIsTerminal bool
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func stdEnv() *Env {
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return &Env{
		Ctx:        ctx,
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Getenv:     os.Getenv,
		IsTerminal: isTerminal(os.Stderr), StdoutIsTerminal: isTerminal(os.Stdout),
	}
}

// exitStatus is an error that carries an exit code. A command returns
// exitStatus(exitFindings) when it ran well but found something.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// cli is the command tree.
type cli struct {
	VersionFlag kong.VersionFlag `name:"version" help:"Print the version and exit."`

	Help      helpCmd      `cmd:"" help:"Show help for coffer or one of its commands (coffer help records put)."`
	Serve     serveCmd     `cmd:"" help:"Run the Coffer server."`
	Init      initCmd      `cmd:"" help:"Create a production data directory: configuration, starter schema, root key material, the first admin API key."`
	Unseal    unsealCmd    `cmd:"" help:"Give a sealed server one unseal input, read from standard input: the passphrase or one share (uses COFFER_ADDR)."`
	Seal      sealCmd      `cmd:"" help:"Seal a running server: it drops every key until unsealed (admin; uses COFFER_ADDR and COFFER_TOKEN)."`
	Audit     auditCmd     `cmd:"" help:"Inspect the audit log."`
	APIKey    apiKeyCmd    `cmd:"" name:"api-key" help:"Administer API keys on the store directly."`
	Backup    backupCmd    `cmd:"" help:"Encrypted backups: keygen, create, verify (a restore drill), restore."`
	Ledger    ledgerCmd    `cmd:"" help:"Export the erasure ledger a restore replays (uses COFFER_ADDR and COFFER_TOKEN)."`
	Keys      keysCmd      `cmd:"" help:"Root keys: create a key file, status, rotation."`
	Operators operatorsCmd `cmd:"" help:"Operators: create, list, lock, unlock, training (uses COFFER_ADDR and COFFER_TOKEN)."`
	Records   recordsCmd   `cmd:"" help:"Put, get and search records (uses COFFER_ADDR and COFFER_TOKEN)."`
	Requests  requestsCmd  `cmd:"" help:"Data-subject requests: create, list, verify, complete, deny, extend, export (uses COFFER_ADDR and COFFER_TOKEN)."`
	Consents  consentsCmd  `cmd:"" help:"Get and set a subject's consents per purpose (uses COFFER_ADDR and COFFER_TOKEN)."`
	Retention retentionCmd `cmd:"" help:"Run the retention sweep now, or report with --dry-run (uses COFFER_ADDR and COFFER_TOKEN)."`
	Tokens    tokensCmd    `cmd:"" help:"Tokenize, detokenize (values and tokens on standard input, one per line) and revoke (uses COFFER_ADDR and COFFER_TOKEN)."`
	Scan      scanCmd      `cmd:"" help:"Find personal data in files, directories, SQLite files and PostgreSQL databases (exit 1 on findings)."`
	Ropa      ropaCmd      `cmd:"" help:"Write the GDPR Art. 30 record of processing activities from an inventory."`
	Notice    noticeCmd    `cmd:"" help:"Write the public privacy notice (HTML) from an inventory."`
	Bench     benchCmd     `cmd:"" help:"Load-test a running server."`
	Version   versionCmd   `cmd:"" help:"Print the version."`
}

type versionCmd struct{}

func (versionCmd) Run(env *Env) error {
	fmt.Fprintln(env.Stdout, "coffer", version())
	return nil
}

type helpCmd struct {
	Command []string `arg:"" optional:"" help:"The command to explain."`
}

// Run prints the help of the command named, as --help would.
func (h *helpCmd) Run(kctx *kong.Context) error {
	_, err := kctx.Kong.Parse(append(slices.Clone(h.Command), "--help"))
	return err
}

// Main parses args, runs the command and returns the process exit code.
func Main(args []string, env *Env) int {
	var c cli
	exited := -1
	parser, err := kong.New(&c,
		kong.Name("coffer"),
		kong.Description("Coffer: a customer-data vault and privacy toolkit."),
		kong.Writers(env.Stdout, env.Stderr),
		kong.Exit(func(code int) { exited = code }),
		kong.Bind(env),
		kong.UsageOnError(),
		kong.Vars{"version": "coffer " + version()},
	)
	if err != nil {
		fmt.Fprintln(env.Stderr, "coffer:", err)
		return exitError
	}
	kctx, err := parser.Parse(args)
	if exited >= 0 { // --help
		return exited
	}
	if err != nil {
		fmt.Fprintln(env.Stderr, "coffer:", err)
		return exitError
	}
	err = kctx.Run()
	if exited >= 0 { // coffer help: the help parse exited
		return exited
	}
	if err != nil {
		var st exitStatus
		if errors.As(err, &st) {
			return int(st)
		}
		fmt.Fprintln(env.Stderr, "coffer:", err)
		var ce *client.ConnError
		if errors.As(err, &ce) {
			fmt.Fprintln(env.Stderr, "coffer: set COFFER_ADDR or --addr to the address coffer serve prints (host:port or a URL)")
		}
		return exitError
	}
	return exitOK
}
