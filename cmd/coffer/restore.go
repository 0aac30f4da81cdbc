package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
}

func (c *backupRestoreCmd) Run(env *Env) (err error) {
	if (c.Data == "") == (c.Database == "") {
		return errors.New("pass one target: --data DIR (SQLite) or --database DSN (PostgreSQL)")
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
	load := func(ctx context.Context, lt sqlstore.LoadTx) error {
		var err error
		st, err = loadBackup(ctx, r, lt, trusted, keys, ledger)
		return err
	}
	entry := &coffer.AuditEntry{Actor: "system", Action: "backup.restore", Outcome: coffer.OutcomeAllowed}
	if c.Database != "" {
		err = c.restorePostgres(env, load, signer, entry)
	} else {
		err = c.restoreSQLite(env, load, signer, entry)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "restored %d rows (%d tables, audit head at seq %d) from %s in %s; %d subjects erased again from the ledger (%d entries)\n",
		st.Rows, len(st.Manifest.Tables), st.Manifest.AuditSeq, c.File, time.Since(start).Round(time.Millisecond), st.Erased, len(ledger))
	return nil
}

// restoreSQLite builds the data directory beside the target and renames
// it into place only when the load (with its chain check) and the
// restore's own audit entry succeeded: a failure leaves the target as it
// was.
func (c *backupRestoreCmd) restoreSQLite(env *Env, load func(context.Context, sqlstore.LoadTx) error, signer *audit.Signer,
	entry *coffer.AuditEntry) (err error) {
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
	st, err := sqlite.Open(env.Ctx, path, sqlite.Options{Signer: signer})
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
	entry *coffer.AuditEntry) error {
	if err := postgres.Load(env.Ctx, c.Database, load); err != nil {
		return restoreErr(err)
	}
	ps, err := postgres.Open(env.Ctx, c.Database, signer)
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
