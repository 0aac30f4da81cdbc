package vault

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/cofferhq/coffer"
)

// BackupInfo describes a backup just written.
type BackupInfo struct {
	AuditSeq int64
	Rows     int64
	Bytes    int64
}

// BackupFunc writes an encrypted backup of the whole store to w for the
// age recipients given (cmd/coffer wires internal/backup over the store's
// snapshot). A recipient that does not parse is EINVALID before any byte
// is written.
type BackupFunc func(ctx context.Context, w io.Writer, recipients []string) (BackupInfo, error)

// LedgerEntry is one erasure in the ledger: the keyed hash of the subject
// id (never the id), the version of the key it is keyed with, and when.
type LedgerEntry struct {
	Hash       []byte `json:"hash"`
	KeyVersion uint32 `json:"key_version"`
	ErasedAt   int64  `json:"erased_at"` // Unix nanoseconds
}

// LedgerFunc reads the whole erasure ledger.
type LedgerFunc func(ctx context.Context) ([]LedgerEntry, error)

// BackupFile is a scheduled backup in its target.
type BackupFile struct {
	Name     string
	Size     int64
	Created  time.Time
	AuditSeq int64
	Rows     int64
	// LastVerify is the last restore drill recorded for it, if any.
	LastVerify *BackupVerification
}

// BackupVerification is what a restore drill (coffer backup verify, which
// needs the age identity the server never holds) reported of a scheduled
// backup.
type BackupVerification struct {
	At       time.Time `json:"at"`
	OK       bool      `json:"ok"`
	AuditSeq int64     `json:"audit_seq"` // the signed head the drill verified the chain up to; 0 when it failed
}

// VerifiedFunc records a drill's result beside a scheduled backup;
// ENOTFOUND when name is none of them.
type VerifiedFunc func(ctx context.Context, name string, v BackupVerification) error

// backupName is the shape of a scheduled backup's name.
var backupName = regexp.MustCompile(`^coffer-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.backup$`)

// ListFunc lists the scheduled backups in their target, newest first.
type ListFunc func(ctx context.Context) ([]BackupFile, error)

// BackupsOptions are what the backup use case runs over; a nil function
// makes its call answer that it is not available.
type BackupsOptions struct {
	Dump     BackupFunc
	Ledger   LedgerFunc
	List     ListFunc
	Verified VerifiedFunc
}

// Backups takes backups, lists scheduled ones and exports the erasure
// ledger (admin, audited).
type Backups struct {
	*core
	dump     BackupFunc
	ledger   LedgerFunc
	list     ListFunc
	verified VerifiedFunc
}

// NewBackups returns the backup use case of v.
func NewBackups(v *Vault, o BackupsOptions) *Backups {
	return &Backups{core: v.core, dump: o.Dump, ledger: o.Ledger, list: o.List, verified: o.Verified}
}

// RecordVerification records the result of a restore drill of the
// scheduled backup name (admin, audited): GET /v1/backups and the posture
// check show when each backup was last verified.
func (b *Backups) RecordVerification(ctx context.Context, c *Call, name string, ok bool, auditSeq int64) error {
	e := c.entry("backup.verified", "")
	if err := b.requireAdmin(ctx, c, e); err != nil {
		return err
	}
	if !backupName.MatchString(name) {
		return b.failed(ctx, e, coffer.Errorf(coffer.EINVALID, "name: a scheduled backup's name (coffer-<UTC time>.backup)"))
	}
	if auditSeq < 0 || (!ok && auditSeq != 0) {
		return b.failed(ctx, e, coffer.Errorf(coffer.EINVALID, "audit_seq: the verified head's seq, 0 for a failed drill"))
	}
	if b.verified == nil {
		return b.failed(ctx, e, coffer.Errorf(coffer.ENOTFOUND, "no scheduled backups: set backup: in the configuration"))
	}
	v := BackupVerification{At: b.now().UTC(), OK: ok, AuditSeq: auditSeq}
	if err := b.verified(ctx, name, v); err != nil {
		return b.failed(ctx, e, err)
	}
	e.Outcome = coffer.OutcomeAllowed
	e.Reason = fmt.Sprintf("restore drill of %s: ok %t, head seq %d", name, ok, auditSeq)
	return b.store.AppendAudit(ctx, e)
}

// List returns the scheduled backups (admin).
func (b *Backups) List(ctx context.Context, c *Call) ([]BackupFile, error) {
	e := c.entry("backup.list", "")
	if err := b.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	if b.list == nil {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "no scheduled backups: set backup: in the configuration")
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := b.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return b.list(ctx)
}

// Create writes a backup to w (admin). The call is audited before the
// snapshot is taken, so the backup holds its own audit entry.
func (b *Backups) Create(ctx context.Context, c *Call, w io.Writer, recipients []string) (BackupInfo, error) {
	e := c.entry("backup.create", "")
	if err := b.requireAdmin(ctx, c, e); err != nil {
		return BackupInfo{}, err
	}
	if len(recipients) == 0 {
		return BackupInfo{}, coffer.Errorf(coffer.EINVALID, "recipients: at least one age recipient (age1…; coffer backup keygen makes one)")
	}
	if len(recipients) > 64 {
		return BackupInfo{}, coffer.Errorf(coffer.EINVALID, "recipients: at most 64")
	}
	if b.dump == nil {
		return BackupInfo{}, coffer.Errorf(coffer.EINTERNAL, "backups are not available on this server")
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := b.store.AppendAudit(ctx, e); err != nil {
		return BackupInfo{}, err
	}
	return b.dump(ctx, w, recipients)
}

// Ledger returns the erasure ledger (admin): keyed hashes only, which a
// restore replays so a customer erased after a backup stays erased.
func (b *Backups) Ledger(ctx context.Context, c *Call) ([]LedgerEntry, error) {
	e := c.entry("ledger.export", "")
	if err := b.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	if b.ledger == nil {
		return nil, coffer.Errorf(coffer.EINTERNAL, "the erasure ledger is not available on this server")
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := b.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return b.ledger(ctx)
}
