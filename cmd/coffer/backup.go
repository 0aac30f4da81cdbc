package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/backup"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

type backupCmd struct {
	Keygen   backupKeygenCmd   `cmd:"" help:"Make an age identity for backups: the identity on stdout (keep it secret, offline), its recipient on stderr."`
	Create   backupCreateCmd   `cmd:"" help:"Take an encrypted backup: from the running server (COFFER_ADDR, COFFER_TOKEN) or, with --data, from a data directory."`
	Verify   backupVerifyCmd   `cmd:"" help:"Restore drill: decrypt, check signature and hashes, restore into a temporary store, verify the audit chain. Exit 0 good, 1 wrong content, 2 unreadable."`
	Restore  backupRestoreCmd  `cmd:"" help:"Restore a backup into an empty data directory (--data) or PostgreSQL database (--database), replaying an erasure ledger."`
	List     backupListCmd     `cmd:"" help:"List the scheduled backups in the server's backup target (uses COFFER_ADDR and COFFER_TOKEN)."`
	AuditKey backupAuditKeyCmd `cmd:"" name:"audit-key" help:"Print the audit public key of a key file, for backup verify --audit-key on a machine without the root keys."`
}

type backupKeygenCmd struct {
	Out string `help:"Write the identity to this file (0600) instead of stdout."`
}

func (c *backupKeygenCmd) Run(env *Env) error {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	doc := fmt.Sprintf("# created: %s\n# recipient: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if c.Out != "" {
		f, err := os.OpenFile(c.Out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("identity: %w (choose a new file)", err)
		}
		if _, err := f.WriteString(doc); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	} else {
		fmt.Fprint(env.Stdout, doc)
	}
	fmt.Fprintf(env.Stderr, "recipient: %s\n", id.Recipient())
	return nil
}

type backupCreateCmd struct {
	Recipient []string `help:"age recipient (age1…) to encrypt to; repeat for several." required:""`
	Out       string   `help:"File to write the backup to (must not exist)." required:""`
	Data      string   `help:"Back up this data directory's coffer.db directly (the server stopped, or read-only beside it) instead of asking the server."`
	Keys      string   `help:"Key file with --data (default <data>/keys.json): signs the manifest."`
	connFlags
}

func (c *backupCreateCmd) Run(env *Env) (err error) {
	if _, err := parseRecipients(c.Recipient); err != nil {
		return err
	}
	tmp := c.Out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	if _, err := os.Stat(c.Out); err == nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("%s exists: choose a new file name", c.Out)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	start := time.Now()
	var info string
	if c.Data != "" {
		keysPath := c.Keys
		if keysPath == "" {
			keysPath = filepath.Join(c.Data, "keys.json")
		}
		_, signer, err := rootKeys(keysPath)
		if err != nil {
			return err
		}
		st, err := sqlite.Open(env.Ctx, filepath.Join(c.Data, "coffer.db"), sqlite.Options{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("%w (is --data the data directory?)", err)
		}
		defer st.Close()
		bi, err := writeBackup(env.Ctx, st, "sqlite", signer, f, c.Recipient, 0)
		if err != nil {
			return err
		}
		info = fmt.Sprintf("%d rows, audit head at seq %d", bi.Rows, bi.AuditSeq)
	} else {
		cfg, err := c.config(env)
		if err != nil {
			return err
		}
		cfg.Timeout = 24 * time.Hour // a backup streams as long as the store is big
		cl, err := client.New(cfg)
		if err != nil {
			return err
		}
		if err := cl.Backups().Create(env.Ctx, c.Recipient, f); err != nil {
			return err
		}
		info = "from " + cl.Addr()
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.Out); err != nil {
		return err
	}
	fi, err := os.Stat(c.Out)
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(env.Stdout, "backup written to %s: %d bytes in %s (%.1f MB/s), %s\n", c.Out, fi.Size(), el.Round(time.Millisecond),
		float64(fi.Size())/1e6/max(el.Seconds(), 1e-6), info)
	return nil
}

// trustFlags say where a verify gets the audit public key it trusts: the
// server's key file, or its exported public key. A key inside the backup
// is never trusted (whoever wrote the backup would choose it).
type trustFlags struct {
	Keys     string `help:"The server's key file: the audit key is derived from it."`
	Data     string `help:"A data directory whose keys.json is the key file."`
	AuditKey string `name:"audit-key" help:"A file holding the audit public key (coffer backup audit-key, or the audit-keys.txt beside the config), for a machine without the root keys."`
}

func (t *trustFlags) trusted() (trustedKeys, error) {
	switch {
	case t.AuditKey != "":
		b, err := os.ReadFile(t.AuditKey)
		if err != nil {
			return nil, fmt.Errorf("audit key: %w", err)
		}
		pub, err := parseAuditKey(string(b))
		if err == nil {
			return trustedKeys{anyVersion: pub}, nil
		}
		// The audit-keys.txt beside the config: every key version, and
		// there whatever the key provider (a passphrase vault has no key
		// file to run backup audit-key on).
		if keys, kerr := audit.ReadKeyFile(t.AuditKey); kerr == nil && len(keys) > 0 {
			return trustedKeys(keys), nil
		}
		return nil, fmt.Errorf("audit key %s: %w", t.AuditKey, err)
	case t.Keys != "" || t.Data != "":
		path := t.Keys
		if path == "" {
			path = filepath.Join(t.Data, "keys.json")
		}
		_, signer, err := rootKeys(path)
		if err != nil {
			return nil, err
		}
		return trustedKeys(signer.PublicKeys()), nil
	}
	return nil, errors.New("no trusted audit key: pass --keys FILE, --data DIR or --audit-key FILE (a key inside the backup is never trusted)")
}

const auditKeyPrefix = "coffer-audit-ed25519:"

func parseAuditKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), auditKeyPrefix))
	if err != nil || len(b) != ed25519.PublicKeySize || !strings.HasPrefix(strings.TrimSpace(s), auditKeyPrefix) {
		return nil, errors.New("not an audit public key (coffer backup audit-key prints one; audit-keys.txt beside the config holds them too)")
	}
	return ed25519.PublicKey(b), nil
}

type backupAuditKeyCmd struct {
	Keys string `help:"The server's key file." required:""`
}

func (c *backupAuditKeyCmd) Run(env *Env) error {
	_, signer, err := rootKeys(c.Keys)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, auditKeyPrefix+base64.StdEncoding.EncodeToString(signer.PublicKey()))
	return nil
}

type backupVerifyCmd struct {
	File        string `arg:"" help:"The backup file."`
	Identity    string `help:"age identity file (coffer backup keygen)." required:""`
	verifiedSeq int64  // the head the drill verified the chain up to
	Report      bool   `help:"Record the result beside the scheduled backup of the same file name on the running server (COFFER_ADDR, COFFER_TOKEN): GET /v1/backups shows it as last_verify."`
	trustFlags
	connFlags
}

func (c *backupVerifyCmd) Run(env *Env) error {
	trusted, err := c.trusted()
	if err != nil {
		return err
	}
	ids, err := readIdentities(c.Identity)
	if err != nil {
		return err
	}
	start := time.Now()
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	var cl *client.Client
	if c.Report { // before the drill, so a bad address fails at once
		cfg, err := c.config(env)
		if err != nil {
			return err
		}
		if cl, err = client.New(cfg); err != nil {
			return err
		}
	}
	err = c.drill(env, f, trusted, ids, start)
	if cl == nil {
		return err
	}
	ok := err == nil
	if !ok && err != exitStatus(exitFindings) {
		return err // the drill could not run (unreadable, wrong identity): nothing to say of the backup
	}
	name := filepath.Base(c.File)
	if rerr := cl.Backups().RecordVerification(env.Ctx, name, ok, c.verifiedSeq); rerr != nil {
		fmt.Fprintf(env.Stderr, "coffer: the result was not recorded on the server: %v\n", rerr)
		return exitStatus(exitError)
	}
	fmt.Fprintf(env.Stdout, "recorded: %s last verified now (ok %t) on %s\n", name, ok, cl.Addr())
	return err
}

// drill is the restore drill itself; it prints what it found.
func (c *backupVerifyCmd) drill(env *Env, f *os.File, trusted trustedKeys, ids []age.Identity, start time.Time) error {
	r, err := backup.NewReader(f, trusted.verify, ids...)
	if err != nil {
		return backupExit(env, err)
	}
	src, done, err := openTemp(env.Ctx, r)
	if err != nil {
		return backupExit(env, err)
	}
	defer done()
	var st restoreStats
	err = src.intoSQLite(env.Ctx, func(ctx context.Context, lt sqlstore.LoadTx) error {
		var err error
		st, err = src.finish(ctx, lt, trusted, nil, nil)
		return err
	})
	if err != nil {
		return backupExit(env, err)
	}
	n := st.Entries
	m := st.Manifest
	fmt.Fprintf(env.Stdout, "ok: backup of %s taken %s by coffer %s (%s store)\n", c.File, m.Created.Format(time.RFC3339), m.CofferVersion, m.Store)
	fmt.Fprintf(env.Stdout, "ok: signature, payload hash and row counts verified: %d tables, %d rows\n", len(m.Tables), st.Rows)
	fmt.Fprintf(env.Stdout, "ok: restored into a temporary store; audit chain intact: %d entries up to the signed head at seq %d\n", n, m.AuditSeq)
	fmt.Fprintf(env.Stdout, "restore drill took %s\n", time.Since(start).Round(time.Millisecond))
	c.verifiedSeq = m.AuditSeq
	return nil
}

// backupExit maps a verify failure to SPEC §12's exit codes: 1 the content
// is wrong, 2 it cannot be read.
func backupExit(env *Env, err error) error {
	var f *audit.Failure
	switch {
	case errors.Is(err, backup.ErrCorrupt), errors.As(err, &f):
		fmt.Fprintf(env.Stdout, "FAIL: %v\n", err)
		return exitStatus(exitFindings)
	case errors.Is(err, backup.ErrUnreadable):
		fmt.Fprintf(env.Stderr, "coffer: %v\n", err)
		return exitStatus(exitError)
	}
	return err
}

type ledgerCmd struct {
	Export ledgerExportCmd `cmd:"" help:"Write the erasure ledger (keyed hashes, no ids) as JSON: keep it with the backups, give it to backup restore --ledger."`
}

type ledgerExportCmd struct {
	clientConn
}

func (c *ledgerExportCmd) Run(env *Env, cl *client.Client) error {
	l, err := cl.Backups().Ledger(env.Ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", " ")
	return enc.Encode(l)
}

type backupListCmd struct {
	clientConn
}

func (c *backupListCmd) Run(env *Env, cl *client.Client) error {
	fs, err := cl.Backups().List(env.Ctx)
	if err != nil {
		return err
	}
	for _, f := range fs {
		fmt.Fprintf(env.Stdout, "%s\t%d bytes\t%s\taudit seq %d\t%d rows\n", f.Name, f.Size, f.Created.Format(time.RFC3339), f.AuditSeq, f.Rows)
	}
	return nil
}
