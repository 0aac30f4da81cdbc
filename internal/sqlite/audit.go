package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"iter"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/rowcodec"
)

// Audit implements coffer.Store.
func (s *Store) Audit(ctx context.Context, f coffer.AuditFilter) ([]*coffer.AuditEntry, error) {
	q, args := rowcodec.AuditQuery(f, func(int) string { return "?" })
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanAudit)
}

// AuditLog iterates over every audit entry in storage order (by seq), for
// verification, in pages of 10,000 so memory stays bounded.
func (s *Store) AuditLog(ctx context.Context) iter.Seq2[*coffer.AuditEntry, error] {
	return rowcodec.AuditPages(ctx, s.Audit)
}

// AuditHead returns the signed head of the audit log; ENOTFOUND when the
// log has never been signed.
func (s *Store) AuditHead(ctx context.Context) (*coffer.AuditHead, error) {
	var h coffer.AuditHead
	err := s.rdb.QueryRowContext(ctx, `SELECT seq, hash, signature FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash, &h.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "the audit log has no signed head")
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}
