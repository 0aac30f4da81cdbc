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
	q := `SELECT ` + rowcodec.AuditColumns + ` FROM audit WHERE 1=1`
	var args []any
	if f.Actor != "" {
		q += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if !f.Since.IsZero() {
		q += ` AND time >= ?`
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		q += ` AND time < ?`
		args = append(args, f.Until.UnixNano())
	}
	if f.AfterSeq > 0 {
		q += ` AND seq > ?`
		args = append(args, f.AfterSeq)
	}
	if f.Desc && f.AfterSeq == 0 {
		q += ` ORDER BY seq DESC`
	} else {
		q += ` ORDER BY seq`
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += ` LIMIT ?`
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*coffer.AuditEntry
	for rows.Next() {
		e, err := rowcodec.ScanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditLog iterates over every audit entry in storage order (by seq), for
// verification. It reads in pages so memory stays bounded.
func (s *Store) AuditLog(ctx context.Context) iter.Seq2[*coffer.AuditEntry, error] {
	return func(yield func(*coffer.AuditEntry, error) bool) {
		// Page by rowid-ordered seq; a deleted or reordered row still shows
		// up in its storage position for Verify to judge.
		var after int64 = -1 << 62
		for {
			rows, err := s.rdb.QueryContext(ctx, `SELECT `+rowcodec.AuditColumns+` FROM audit WHERE seq > ? ORDER BY seq LIMIT 10000`, after)
			if err != nil {
				yield(nil, err)
				return
			}
			n := 0
			for rows.Next() {
				e, err := rowcodec.ScanAudit(rows)
				if err != nil {
					rows.Close()
					yield(nil, err)
					return
				}
				n++
				after = e.Seq
				if !yield(e, nil) {
					rows.Close()
					return
				}
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				yield(nil, err)
				return
			}
			if n == 0 {
				return
			}
		}
	}
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
