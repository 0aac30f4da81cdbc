package client

import (
	"context"
	"io"
	"net/http"
	"time"
)

// LedgerEntry is one erasure of the ledger: the keyed hash of a subject
// id (never the id), the key version it is keyed with, and when.
type LedgerEntry struct {
	Hash       []byte    `json:"hash"`
	KeyVersion uint32    `json:"key_version"`
	ErasedAt   time.Time `json:"erased_at"`
}

// Ledger is the erasure ledger as GET /v1/ledger answers it and as
// coffer backup restore --ledger reads it.
type Ledger struct {
	Ledger []LedgerEntry `json:"ledger"`
}

// Backups takes backups and exports the erasure ledger (admin).
type Backups struct{ c *Client }

// Backups returns the backup calls.
func (c *Client) Backups() Backups { return Backups{c} }

// Create streams an encrypted backup for the age recipients to w. A
// backup outlives the client's default timeout: make the client with a
// Timeout long enough for the store's size. A stream cut short is an
// error here, or a truncated file that coffer backup verify refuses.
func (b Backups) Create(ctx context.Context, recipients []string, w io.Writer) error {
	return b.c.download(ctx, request{method: http.MethodPost, path: path("backups"),
		in: map[string][]string{"recipients": recipients}}, w)
}

// Ledger returns the erasure ledger.
func (b Backups) Ledger(ctx context.Context) (*Ledger, error) {
	var out Ledger
	return &out, b.c.do(ctx, request{method: http.MethodGet, path: path("ledger")}, &out)
}

// BackupFile is a scheduled backup in its target.
type BackupFile struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
	AuditSeq int64     `json:"audit_seq"`
	Rows     int64     `json:"rows"`
	// LastVerify is the last restore drill reported for it; nil if none.
	LastVerify *BackupVerification `json:"last_verify,omitempty"`
}

// BackupVerification is what a restore drill reported of a backup.
type BackupVerification struct {
	At       time.Time `json:"at"`
	OK       bool      `json:"ok"`
	AuditSeq int64     `json:"audit_seq"` // the head the chain was verified up to; 0 when the drill failed
}

// RecordVerification reports a restore drill of the scheduled backup name
// (coffer backup verify --report): ok, and the signed head's seq the chain
// was verified up to (0 when it failed).
func (b Backups) RecordVerification(ctx context.Context, name string, ok bool, auditSeq int64) error {
	return b.c.do(ctx, request{method: http.MethodPost, path: path("backups", name, "verifications"),
		in: map[string]any{"ok": ok, "audit_seq": auditSeq}}, nil)
}

// List returns the scheduled backups, newest first.
func (b Backups) List(ctx context.Context) ([]BackupFile, error) {
	var out struct {
		Backups []BackupFile `json:"backups"`
	}
	err := b.c.do(ctx, request{method: http.MethodGet, path: path("backups")}, &out)
	return out.Backups, err
}
