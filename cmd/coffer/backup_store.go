package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/backup"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/sqlstore"
	"github.com/cofferhq/coffer/internal/vault"
)

// snapshotter is a store that can copy itself in one read transaction
// (*sqlite.Store, *postgres.Store).
type snapshotter interface {
	Snapshot(ctx context.Context, fn func(sqlstore.SnapshotTx) error) error
}

// backupService wires the vault's backup use case over the store serve
// opened: dumps through internal/backup, the ledger from the store, and
// the scheduler the configuration's backup: section asks for (nil: none).
func backupService(v *vault.Vault, store coffer.Store, cfg config.Config, signer *audit.Signer, log *slog.Logger) (*vault.Backups, *scheduler, error) {
	var o vault.BackupsOptions
	if snap, ok := store.(snapshotter); ok {
		kind := storeKind(cfg)
		o.Dump = func(ctx context.Context, w io.Writer, recipients []string) (vault.BackupInfo, error) {
			return writeBackup(ctx, snap, kind, signer, w, recipients, servingRest)
		}
	}
	o.Ledger = func(ctx context.Context) ([]vault.LedgerEntry, error) {
		es, err := store.ErasureLedger(ctx)
		out := make([]vault.LedgerEntry, len(es))
		for i, e := range es {
			out[i] = vault.LedgerEntry{Hash: e.Hash, KeyVersion: e.Version, ErasedAt: e.ErasedAt.UnixNano()}
		}
		return out, err
	}
	sched, err := newScheduler(cfg.Backup, os.Getenv, nil, log)
	if err != nil {
		return nil, nil, err
	}
	if sched != nil {
		o.List, o.Verified = sched.list, sched.verified
		if l, ok := store.(coffer.JobLocker); ok {
			sched.lock = func(ctx context.Context) (func(), bool, error) { return l.TryLock(ctx, backupJob) }
		}
	}
	b := vault.NewBackups(v, o)
	if sched != nil {
		sched.backups = b
	}
	return b, sched, nil
}

// servingRest is the pace of a backup taken while serving: a rest half
// as long as the work (measured at 1,000,000 records on 2 cores, README
// "Backups": 0 gave the most MB/s and doubled the calls' p99; 1 kept the
// p99 but halved the MB/s).
const servingRest = 0.5

// parseRecipients parses age X25519 recipients; an error names the one
// that does not parse by position, never echoing input beyond its prefix.
func parseRecipients(rs []string) ([]age.Recipient, error) {
	if len(rs) == 0 {
		return nil, coffer.Errorf(coffer.EINVALID, "recipients: at least one age recipient (age1…; coffer backup keygen makes one)")
	}
	out := make([]age.Recipient, len(rs))
	for i, s := range rs {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
		if err != nil {
			return nil, coffer.Errorf(coffer.EINVALID, "recipients[%d]: not an age X25519 recipient (age1…)", i)
		}
		out[i] = r
	}
	return out, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeBackup writes a backup of st to w: one snapshot, streamed into the
// encrypted format page by page (SQLite) or row by row (PostgreSQL), the
// manifest signed with the audit key.
//
// rest paces a backup taken while serving: after each stretch of work it
// waits rest times as long as the stretch took, leaving that share of the
// cores to the calls being served (0: as fast as it goes, for a stopped
// data directory).
func writeBackup(ctx context.Context, st snapshotter, kind string, signer *audit.Signer, w io.Writer, recipients []string, rest float64) (vault.BackupInfo, error) {
	rs, err := parseRecipients(recipients)
	if err != nil {
		return vault.BackupInfo{}, err
	}
	cw := &countWriter{w: w}
	bw, err := backup.NewWriter(cw, rs...)
	if err != nil {
		return vault.BackupInfo{}, err
	}
	var head sqlstore.SnapshotHead
	err = st.Snapshot(ctx, func(tx sqlstore.SnapshotTx) error {
		var err error
		if pages, ok := tx.(sqlstore.PageSource); ok {
			var sink sqlstore.ImageSink = bw
			if rest > 0 {
				sink = &pacedSink{ImageSink: bw, ctx: ctx, rest: rest, since: time.Now()}
			}
			head, err = sqlstore.DumpImage(ctx, tx, pages, sink)
		} else {
			head, err = sqlstore.Dump(ctx, tx, bw)
		}
		return err
	})
	if err != nil {
		return vault.BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	m, err := bw.Finish(backup.Manifest{Created: time.Now().UTC(), CofferVersion: version(), Store: kind,
		AuditSeq: head.Seq, AuditHash: head.Hash}, signer.Current())
	if err != nil {
		return vault.BackupInfo{}, err
	}
	info := vault.BackupInfo{AuditSeq: m.AuditSeq, Bytes: cw.n}
	for _, n := range m.Tables {
		info.Rows += n
	}
	return info, nil
}

// pacedSink rests between runs of pages (see writeBackup's rest).
type pacedSink struct {
	sqlstore.ImageSink
	ctx   context.Context
	rest  float64
	since time.Time     // when the current stretch began
	work  time.Duration // its length so far
}

// paceStretch is how much work goes between rests: long enough that a
// rest is far above the timer's resolution, short enough that the calls
// being served wait at most about this long behind the backup.
const paceStretch = 20 * time.Millisecond

func (p *pacedSink) Data(b []byte) error {
	if err := p.ImageSink.Data(b); err != nil {
		return err
	}
	now := time.Now()
	if p.work += now.Sub(p.since); p.work >= paceStretch {
		t := time.NewTimer(time.Duration(float64(p.work) * p.rest))
		select {
		case <-p.ctx.Done():
			t.Stop()
			return p.ctx.Err()
		case <-t.C:
		}
		p.work, now = 0, time.Now()
	}
	p.since = now
	return nil
}

// trustedKeys are the audit public keys a backup's manifest may be signed
// with, by key version. They come from the operator (the key file, or an
// exported public key), never from the backup itself.
// trustedKeys are the audit public keys a verify trusts, by version: a
// manifest verifies under the key of the version it names.
type trustedKeys map[uint32]ed25519.PublicKey

// anyVersion holds one key given without a version (coffer backup
// audit-key prints the current one): it is trusted for any version.
const anyVersion = 0

func (t trustedKeys) verify(version uint32, doc, sig []byte) bool {
	pub, ok := t[version]
	if !ok {
		pub, ok = t[anyVersion]
	}
	return ok && audit.VerifyManifest(pub, doc, sig)
}

// rootKeys loads a key file: the root keys and the audit signer serve
// derives from them.
func rootKeys(path string) (*coffer.RootKeys, *audit.Signer, error) {
	if path == "" {
		return nil, nil, errors.New("no key file: pass --keys FILE (the key file the server runs with; root keys are never in a backup)")
	}
	keys, err := (&keyring.File{Path: path}).Keys()
	if err != nil {
		return nil, nil, fmt.Errorf("%w (pass the server's key file with --keys)", err)
	}
	signer, err := audit.NewSignerKeys(keys)
	if err != nil {
		return nil, nil, err
	}
	return keys, signer, nil
}

// readIdentities reads an age identity file (coffer backup keygen).
func readIdentities(path string) ([]age.Identity, error) {
	if path == "" {
		return nil, errors.New("no identity: pass --identity FILE (the age identity coffer backup keygen wrote)")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("identity %s: not an age identity file (%v)", path, err)
	}
	return ids, nil
}

// readLedger reads an erasure ledger (coffer ledger export, GET
// /v1/ledger). Every entry must be a 32-byte hash keyed with a derived-key
// root version (at least 1; ledgerHeld checks the keys hold it).
func readLedger(path string) ([]client.LedgerEntry, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var l client.Ledger
	if err := dec.Decode(&l); err != nil || l.Ledger == nil {
		return nil, fmt.Errorf("ledger %s does not parse as an erasure ledger (export it again with coffer ledger export)", path)
	}
	for i, e := range l.Ledger {
		if len(e.Hash) != 32 {
			return nil, fmt.Errorf("ledger %s: entry %d: the hash is not 32 bytes (export it again with coffer ledger export)", path, i)
		}
		if e.KeyVersion == 0 {
			return nil, fmt.Errorf("ledger %s: entry %d names no key version (export it again with coffer ledger export)", path, i)
		}
	}
	return l.Ledger, nil
}

// ledgerHeld fails unless keys hold the derived-key root version of every
// ledger entry: a restore that could not match an entry would leave its
// subject in the restored store.
func ledgerHeld(path string, ledger []client.LedgerEntry, keys *coffer.RootKeys) error {
	for i, e := range ledger {
		if e.KeyVersion > keys.DerivedVersion() {
			return fmt.Errorf("ledger %s: entry %d is keyed with derived-key root version %d, these keys hold versions 1 to %d (restore with the key file that rotation wrote); nothing was written",
				path, i, e.KeyVersion, keys.DerivedVersion())
		}
	}
	return nil
}

// storeKind names the store a configuration opens, for the manifest.
func storeKind(cfg config.Config) string {
	if cfg.Database != "" {
		return "postgres"
	}
	return "sqlite"
}
