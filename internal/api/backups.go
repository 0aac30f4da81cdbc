package api

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// BackupService takes backups and exports the erasure ledger
// (*vault.Backups). Nil in Config: the routes answer 404.
type BackupService interface {
	Create(ctx context.Context, c *vault.Call, w io.Writer, recipients []string) (vault.BackupInfo, error)
	Ledger(ctx context.Context, c *vault.Call) ([]vault.LedgerEntry, error)
	List(ctx context.Context, c *vault.Call) ([]vault.BackupFile, error)
	RecordVerification(ctx context.Context, c *vault.Call, name string, ok bool, auditSeq int64) error
}

// streamWriter sends the answer's headers with the first byte, so an error
// before any byte is still an error answer.
type streamWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/octet-stream")
		s.w.Header().Set("Content-Disposition", `attachment; filename="coffer-`+time.Now().UTC().Format("20060102T150405Z")+`.backup"`)
		s.w.Header().Set("Cache-Control", "no-store")
		s.w.WriteHeader(http.StatusOK)
	}
	return s.w.Write(p)
}

// createBackup streams an encrypted backup. A failure after the first
// byte aborts the connection: the client sees a truncated stream, which
// the backup format refuses, never a short file that looks whole.
func (h *Handler) createBackup(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if h.backups == nil {
		return notAvailable()
	}
	var req struct {
		Recipients []string `json:"recipients"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	// A backup takes longer than the server's write timeout allows a
	// usual answer.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	sw := &streamWriter{w: w}
	_, err := h.backups.Create(r.Context(), c, sw, req.Recipients)
	if err != nil && sw.started {
		h.log.Error("backup stream failed", "request_id", c.RequestID, "err", err)
		panic(http.ErrAbortHandler)
	}
	return err
}

type ledgerEntry struct {
	Hash       []byte `json:"hash"`
	KeyVersion uint32 `json:"key_version"`
	ErasedAt   string `json:"erased_at"`
}

// getLedger answers the erasure ledger: keyed hashes with their key
// version, no subject ids.
func (h *Handler) getLedger(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if h.backups == nil {
		return notAvailable()
	}
	es, err := h.backups.Ledger(r.Context(), c)
	if err != nil {
		return err
	}
	out := make([]ledgerEntry, len(es))
	for i, e := range es {
		out[i] = ledgerEntry{Hash: e.Hash, KeyVersion: e.KeyVersion, ErasedAt: time.Unix(0, e.ErasedAt).UTC().Format(time.RFC3339Nano)}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"ledger": out})
	return nil
}

func notAvailable() error {
	return coffer.Errorf(coffer.ENOTFOUND, "backups are not available on this server")
}

type backupFile struct {
	Name       string                    `json:"name"`
	Size       int64                     `json:"size"`
	Created    time.Time                 `json:"created"`
	AuditSeq   int64                     `json:"audit_seq"`
	Rows       int64                     `json:"rows"`
	LastVerify *vault.BackupVerification `json:"last_verify,omitempty"`
}

// recordBackupVerification records what a restore drill (coffer backup
// verify --report) found of a scheduled backup.
func (h *Handler) recordBackupVerification(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if h.backups == nil {
		return notAvailable()
	}
	var req struct {
		OK       *bool `json:"ok"`
		AuditSeq int64 `json:"audit_seq"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.OK == nil {
		return coffer.Errorf(coffer.EINVALID, "ok: required (true when the drill passed)")
	}
	if err := h.backups.RecordVerification(r.Context(), c, r.PathValue("name"), *req.OK, req.AuditSeq); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listBackups answers the scheduled backups in their target, newest first.
func (h *Handler) listBackups(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if h.backups == nil {
		return notAvailable()
	}
	fs, err := h.backups.List(r.Context(), c)
	if err != nil {
		return err
	}
	out := make([]backupFile, len(fs))
	for i, f := range fs {
		out[i] = backupFile{Name: f.Name, Size: f.Size, Created: f.Created, AuditSeq: f.AuditSeq, Rows: f.Rows, LastVerify: f.LastVerify}
	}
	writeJSON(w, http.StatusOK, map[string]any{"backups": out})
	return nil
}
