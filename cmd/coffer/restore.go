package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/backup"
	"github.com/cofferhq/coffer/internal/postgres"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

type backupRestoreCmd struct {
	File     string `arg:"" help:"The backup file."`
	Identity string `help:"age identity file (coffer backup keygen)." required:""`
	Keys     string `help:"The key file of the vault the backup was taken from (root keys are never in a backup)." required:""`
	Data     string `help:"Restore into this data directory (must not exist or be empty)."`
	Database string `help:"Restore into this PostgreSQL database (DSN; must hold no Coffer data): the SQLite → PostgreSQL migration path."`
	Ledger   string `help:"Erasure ledger to replay (coffer ledger export): customers erased after the backup are erased again."`
	Witness  string `help:"The vault's witness file (audit.witness): the restore appends a signed restore checkpoint naming the backup's head, so audit verify --witness accepts the restored log."`
}

func (c *backupRestoreCmd) Run(env *Env) (err error) {
	if (c.Data == "") == (c.Database == "") {
		return errors.New("pass one target: --data DIR (SQLite) or --database DSN (PostgreSQL)")
	}
	if c.Data != "" && c.Witness != "" && within(c.Witness, c.Data) {
		return fmt.Errorf("--witness %s is inside the target %s: keep the witness outside the data directory (whoever can rewrite the data can rewrite it too)", c.Witness, c.Data)
	}
	keys, signer, err := rootKeys(c.Keys)
	if err != nil {
		return err
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
		if ents, err := os.ReadDir(c.Data); err == nil && len(ents) > 0 {
			return fmt.Errorf("%s is not empty: restore fills an empty data directory only (choose a new one)", c.Data)
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	var witness *audit.WitnessFile
	var after uint64
	if c.Witness != "" {
		witness = &audit.WitnessFile{Path: c.Witness}
		if after, err = witnessCounter(c.Witness, signer); err != nil {
			return err
		}
	}
	start := time.Now()
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	trusted := trustedKeys{signer.Version(): signer.PublicKey()}
	r, err := backup.NewReader(f, trusted.verify, ids...)
	if err != nil {
		return restoreErr(err)
	}
	var st restoreStats
	var cp *audit.Checkpoint
	load := func(ctx context.Context, lt sqlstore.LoadTx) error {
		var err error
		if st, err = loadBackup(ctx, r, lt, trusted, keys, ledger); err != nil {
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
			if err := witness.Append(cp, signer.PublicKey()); err != nil {
				return fmt.Errorf("%w (the restore checkpoint must reach the witness: check --witness)", err)
			}
		}
		return nil
	}
	entry := &coffer.AuditEntry{Actor: "system", Action: "backup.restore", Outcome: coffer.OutcomeAllowed}
	if c.Database != "" {
		err = c.restorePostgres(env, load, signer, witness, entry)
	} else {
		err = c.restoreSQLite(env, load, signer, witness, entry)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "restored %d rows (%d tables, audit head at seq %d) from %s in %s; %d subjects erased again from the ledger (%d entries)\n",
		st.Rows, len(st.Manifest.Tables), st.Manifest.AuditSeq, c.File, time.Since(start).Round(time.Millisecond), st.Erased, len(ledger))
	if witness != nil {
		fmt.Fprintf(env.Stdout, "witness: restore checkpoint at seq %d (counter %d) appended to %s\n", cp.Seq, cp.Counter, witness.Path)
	} else {
		fmt.Fprintf(env.Stdout, "witness: none given; restore checkpoint at seq %d stored in the database only, so a witness of this vault's earlier life calls the restored log cut back (restore again with --witness FILE)\n", cp.Seq)
	}
	return nil
}

// witnessCounter reads the witness a restore appends to and returns its
// last checkpoint counter (the restore checkpoint's must be higher). No
// file yet is fine: the restore checkpoint starts it. A witness that does
// not parse, or holds a checkpoint this vault's audit key did not sign (another
// vault's witness, or an edited one), is refused before anything is
// written.
func witnessCounter(path string, signer *audit.Signer) (uint64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("witness: %w", err)
	}
	defer f.Close()
	cps, _, err := audit.ReadWitness(f)
	if err == nil {
		var w *audit.Witnessed
		if w, err = audit.NewWitnessed(cps, map[uint32]ed25519.PublicKey{signer.Version(): signer.PublicKey()}); err == nil {
			return w.LastCounter(), nil
		}
	}
	return 0, fmt.Errorf("witness %s: %v: it is not this vault's witness, or it was edited (coffer audit verify --witness tells); nothing was written", path, err)
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

// restoreSQLite builds the data directory beside the target and renames
// it into place only when the load (with its chain check) and the
// restore's own audit entry succeeded: a failure leaves the target as it
// was.
func (c *backupRestoreCmd) restoreSQLite(env *Env, load func(context.Context, sqlstore.LoadTx) error, signer *audit.Signer,
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
	if err := sqlite.Load(env.Ctx, path, load); err != nil {
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
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, target)
}

// restorePostgres loads into the database in one transaction (rolled back
// on any failure, a chain that does not verify included), then audits the
// restore.
func (c *backupRestoreCmd) restorePostgres(env *Env, load func(context.Context, sqlstore.LoadTx) error, signer *audit.Signer,
	witness *audit.WitnessFile, entry *coffer.AuditEntry) error {
	if err := postgres.Load(env.Ctx, c.Database, load); err != nil {
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
