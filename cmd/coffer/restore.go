package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/backup"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/postgres"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

type backupRestoreCmd struct {
	File     string `arg:"" help:"The backup file."`
	Identity string `help:"age identity file (coffer backup keygen)." required:""`
	Keys     string `help:"The key file of the vault the backup was taken from (root keys are never in a backup). Or --config."`
	Config   string `help:"The vault's coffer.yaml: the root keys come from its keys.provider (file: its key file; passphrase or shamir: the passphrase, or one share per line, on standard input as coffer unseal reads them), the target and the witness from it unless given as flags."`
	Data     string `help:"Restore into this data directory (new, or holding no database: its config and key files may be there)."`
	Database string `help:"Restore into this PostgreSQL database (DSN; must hold no Coffer data): the SQLite → PostgreSQL migration path."`
	Ledger   string `help:"Erasure ledger to replay (coffer ledger export): customers erased after the backup are erased again."`
	Witness  string `help:"The vault's witness file (default with --config: its audit.witness): the restore appends a signed restore checkpoint naming the backup's head, so audit verify --witness accepts the restored log."`
}

func (c *backupRestoreCmd) Run(env *Env) (err error) {
	var cfg *config.Config
	switch {
	case c.Keys != "" && c.Config != "":
		return errors.New("pass --keys FILE or --config FILE, not both: the root keys come from one of them; nothing was written")
	case c.Keys == "" && c.Config == "":
		return errors.New("no root keys: pass --keys FILE (the vault's key file) or --config FILE (its coffer.yaml, whose keys.provider opens them); root keys are never in a backup, and nothing was written")
	case c.Config != "":
		loaded, err := config.Load(c.Config)
		if err != nil {
			return err
		}
		cfg = &loaded
		if c.Data == "" && c.Database == "" { // the store serve would open
			if c.Database = cfg.Database; c.Database == "" {
				c.Data = cfg.Data
			}
		}
		if c.Witness == "" {
			c.Witness = cfg.WitnessPath()
		}
	}
	if (c.Data == "") == (c.Database == "") {
		return errors.New("pass one target: --data DIR (SQLite) or --database DSN (PostgreSQL), or --config whose data or database names it")
	}
	if c.Data != "" && c.Witness != "" && within(c.Witness, c.Data) {
		return fmt.Errorf("the witness %s is inside the target %s: keep the witness outside the data directory (whoever can rewrite the data can rewrite it too)", c.Witness, c.Data)
	}
	ledger, err := readLedger(c.Ledger)
	if err != nil {
		return err
	}
	ids, err := readIdentities(c.Identity)
	if err != nil {
		return err
	}
	if c.Data != "" {
		if err := noDatabase(c.Data); err != nil {
			return err
		}
	}
	var witness *audit.WitnessFile
	var seen []audit.Checkpoint
	if c.Witness != "" {
		witness = &audit.WitnessFile{Path: c.Witness}
		if seen, err = readRestoreWitness(c.Witness); err != nil {
			return err
		}
	}
	// The keys last: a passphrase or shares are asked for only once
	// everything else was found in order.
	var keys *coffer.RootKeys
	var signer *audit.Signer
	if cfg != nil {
		if keys, err = openKeys(env, *cfg); err != nil {
			return fmt.Errorf("root keys from %s (keys.provider %s): %w; %s; nothing was written", c.Config, cfg.Keys.Provider, err, keysHint(*cfg))
		}
		signer, err = audit.NewSignerKeys(keys)
	} else {
		keys, signer, err = rootKeys(c.Keys)
	}
	if err != nil {
		return err
	}
	if err := ledgerHeld(c.Ledger, ledger, keys); err != nil {
		return err
	}
	var after uint64
	if witness != nil {
		if after, err = witnessCounter(c.Witness, seen, signer); err != nil {
			return err
		}
	}
	start := time.Now()
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	trusted := trustedKeys(signer.PublicKeys())
	r, err := backup.NewReader(f, trusted.verify, ids...)
	if err != nil {
		return restoreErr(err)
	}
	var st restoreStats
	var cp *audit.Checkpoint
	finish := func(ctx context.Context, lt sqlstore.LoadTx, src *backupSource) error {
		var err error
		if st, err = src.finish(ctx, lt, trusted, keys, ledger); err != nil {
			return err
		}
		// The restore checkpoint names the backup's head, before the
		// restore's own entry extends the log. It reaches the witness
		// before the load commits: a witness that cannot be written leaves
		// the target untouched. (A failure after this point leaves one
		// checkpoint in the witness, signed by this vault, for a restore
		// that did not land; the next attempt appends its own.)
		if cp, err = sqlstore.RestoreCheckpoint(ctx, lt, signer, after, time.Now().UTC()); err != nil {
			return err
		}
		if witness != nil {
			if err := witness.Append(cp, signer.PublicKeys()[cp.KeyVersion]); err != nil {
				return fmt.Errorf("%w (the restore checkpoint must reach the witness: check --witness)", err)
			}
		}
		return nil
	}
	entry := &coffer.AuditEntry{Actor: "system", Action: "backup.restore", Outcome: coffer.OutcomeAllowed}
	if c.Database != "" {
		err = c.restorePostgres(env, r, finish, signer, witness, entry)
	} else {
		err = c.restoreSQLite(env, r, finish, signer, witness, entry)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "restored %d rows (%d tables, audit head at seq %d) from %s in %s; %d subjects erased again from the ledger (%d entries)\n",
		st.Rows, len(st.Manifest.Tables), st.Manifest.AuditSeq, c.File, time.Since(start).Round(time.Millisecond), st.Erased, len(ledger))
	if witness != nil {
		fmt.Fprintf(env.Stdout, "witness: restore checkpoint at seq %d (counter %d) appended to %s\n", cp.Seq, cp.Counter, witness.Path)
	} else {
		fmt.Fprintf(env.Stdout, "witness: none given; the restore checkpoint at seq %d is in the database only, so a witness of this vault's earlier life will not accept the restored log (restore again, into a new target, with --witness FILE)\n", cp.Seq)
	}
	return nil
}

// keysHint says what to do when a configuration's key source did not open.
func keysHint(cfg config.Config) string {
	switch cfg.Keys.Provider {
	case keyring.ProviderFile:
		return fmt.Sprintf("put the vault's key file at %s (keys.file) or pass --keys FILE instead of --config", cfg.Keys.File)
	case keyring.ProviderPassphrase:
		return "give the vault's passphrase on standard input (one line, never as an argument)"
	case keyring.ProviderShamir:
		return "give enough shares on standard input, one per line (never as arguments)"
	}
	return "run a coffer built with -tags pkcs11 where the HSM and the PIN file the config names are at hand, or pass --keys FILE"
}

// dbFiles are a SQLite data directory's database and its journals.
var dbFiles = []string{"coffer.db", "coffer.db-wal", "coffer.db-shm", "coffer.db-journal"}

// noDatabase refuses a target data directory that holds a database: a
// restore fills a new directory, an empty one, or one holding everything
// but the database (the config, key material and TLS files kept from a
// vault whose disk was lost).
func noDatabase(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if slices.Contains(dbFiles, e.Name()) {
			return fmt.Errorf("%s holds a database (%s): restore never writes over one; choose a new data directory, or move the old database files away first", dir, e.Name())
		}
	}
	return nil
}

// readRestoreWitness reads the witness a restore appends to. No file yet
// is fine: the restore checkpoint starts it. One that does not parse is
// refused before anything is written.
func readRestoreWitness(path string) ([]audit.Checkpoint, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	defer f.Close()
	cps, _, err := audit.ReadWitness(f)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %v: it is not this vault's witness, or it was edited (coffer audit verify --witness tells); nothing was written", path, err)
	}
	return cps, nil
}

// witnessCounter checks that this vault's audit key signed every
// checkpoint of the witness, with growing counters, and returns the last
// counter (the restore checkpoint's must be higher). Another vault's
// witness, or an edited one, is refused before anything is written.
func witnessCounter(path string, cps []audit.Checkpoint, signer *audit.Signer) (uint64, error) {
	w, err := audit.NewWitnessed(cps, signer.PublicKeys())
	if err != nil {
		return 0, fmt.Errorf("witness %s: %v: it is not this vault's witness, or it was edited (coffer audit verify --witness tells); nothing was written", path, err)
	}
	return w.LastCounter(), nil
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	p, d := filepath.Clean(path), filepath.Clean(dir)
	if ap, err := filepath.Abs(p); err == nil {
		p = ap
	}
	if ad, err := filepath.Abs(d); err == nil {
		d = ad
	}
	return p == d || strings.HasPrefix(p, d+string(filepath.Separator))
}

// restoreSQLite builds the database in a directory beside the target and
// moves it into place only when the load (with its chain check) and the
// restore's own audit entry succeeded: a failure leaves the target as it
// was.
func (c *backupRestoreCmd) restoreSQLite(env *Env, r *backup.Reader, finish finishFunc, signer *audit.Signer,
	witness *audit.WitnessFile, entry *coffer.AuditEntry) (err error) {
	target := filepath.Clean(c.Data)
	tmp, err := os.MkdirTemp(filepath.Dir(target), "."+filepath.Base(target)+".restoring-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	path := filepath.Join(tmp, "coffer.db")
	src, err := openSource(env.Ctx, r, path)
	if err != nil {
		return restoreErr(err)
	}
	if err := src.intoSQLite(env.Ctx, src.finishWith(finish)); err != nil {
		return restoreErr(err)
	}
	st, err := sqlite.Open(env.Ctx, path, sqlite.Options{Signer: signer, Witness: witness})
	if err != nil {
		return err
	}
	err = st.AppendAudit(env.Ctx, entry)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := install(path, target); err != nil {
		return err
	}
	return os.RemoveAll(tmp)
}

// install puts the restored database file db into the target directory,
// creating it when it does not exist. The file is linked, never renamed
// over an existing one, and alone: the store's clean close folded its WAL
// back into it, and a WAL that still holds frames fails the restore.
func install(db, target string) error {
	if fi, err := os.Stat(db + "-wal"); err == nil && fi.Size() > 0 {
		return fmt.Errorf("restore failed, nothing was written to the target: the restored database's WAL was not folded back (%d bytes)", fi.Size())
	}
	created := false
	if err := os.Mkdir(target, 0o700); err == nil {
		created = true
	} else if !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := os.Link(db, filepath.Join(target, filepath.Base(db))); err != nil {
		if created {
			os.Remove(target)
		}
		return fmt.Errorf("restore failed, nothing was written to the target: %w", err)
	}
	d, err := os.Open(target)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// restorePostgres loads into the database in one transaction (rolled back
// on any failure, a chain that does not verify included), then audits the
// restore.
func (c *backupRestoreCmd) restorePostgres(env *Env, r *backup.Reader, finish finishFunc, signer *audit.Signer,
	witness *audit.WitnessFile, entry *coffer.AuditEntry) error {
	src, done, err := openTemp(env.Ctx, r)
	if err != nil {
		return restoreErr(err)
	}
	defer done()
	err = postgres.Load(env.Ctx, c.Database, func(ctx context.Context, lt sqlstore.LoadTx) error {
		if err := src.fill(ctx, lt); err != nil {
			return err
		}
		return finish(ctx, lt, src)
	})
	if err != nil {
		return restoreErr(err)
	}
	ps, err := postgres.OpenWith(env.Ctx, c.Database, postgres.Options{Signer: signer, Witness: witness})
	if err != nil {
		return err
	}
	defer ps.Close()
	return ps.AppendAudit(env.Ctx, entry)
}

// restoreErr says what to do about a backup that cannot be restored.
func restoreErr(err error) error {
	switch {
	case errors.Is(err, backup.ErrUnreadable):
		return fmt.Errorf("%w; nothing was written to the target", err)
	case errors.Is(err, backup.ErrCorrupt):
		return fmt.Errorf("%w; nothing was written to the target: restore an older backup (coffer backup verify checks one)", err)
	}
	return fmt.Errorf("restore failed, nothing was written to the target: %w", err)
}
