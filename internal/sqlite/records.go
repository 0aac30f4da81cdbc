package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/rowcodec"
)

// Commit implements coffer.Store.
func (s *Store) Commit(ctx context.Context, ch *coffer.Change) error {
	if s.w == nil {
		return errReadOnly
	}
	return s.w.do(ctx, &op{
		apply: func(ctx context.Context, t *tx) error { return applyChange(ctx, t, ch) },
		after: func() { s.cache.committed(ch) },
		audit: ch.Audit,
	})
}

// AppendAudit implements coffer.Store.
func (s *Store) AppendAudit(ctx context.Context, entries ...*coffer.AuditEntry) error {
	if s.w == nil {
		return errReadOnly
	}
	return s.w.do(ctx, &op{audit: entries})
}

var errReadOnly = &coffer.Error{Code: coffer.EINTERNAL, Message: "store is read-only"}

func applyChange(ctx context.Context, t *tx, ch *coffer.Change) error {
	for _, sub := range ch.NewSubjects {
		n, err := t.exec(ctx, t.st.insSubject, sub.ID, sub.WrappedDEK, sub.KEKVersion, sub.CreatedAt.UnixNano())
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "subject already exists")
		}
	}
	for _, r := range ch.Creates {
		n, err := t.exec(ctx, t.st.insRecord, r.ID, r.Collection, r.Subject, rowcodec.EncodeFields(r.Fields), rowcodec.EncodeIndex(r.Index),
			r.CreatedAt.UnixNano(), r.UpdatedAt.UnixNano())
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "record id already exists")
		}
		if err := insertIndex(ctx, t, r.Collection, r.ID, r.Index); err != nil {
			return err
		}
	}
	for _, r := range ch.Updates {
		var old []byte
		err := t.st.selIdx.QueryRowContext(ctx, r.ID, r.Collection, r.Version).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return coffer.Errorf(coffer.ECONFLICT, "record changed or was deleted concurrently")
		}
		if err != nil {
			return err
		}
		if err := deleteIndex(ctx, t, r.Collection, r.ID, old); err != nil {
			return err
		}
		if _, err := t.exec(ctx, t.st.updRecord, rowcodec.EncodeFields(r.Fields), rowcodec.EncodeIndex(r.Index), r.UpdatedAt.UnixNano(), r.ID, r.Collection, r.Version); err != nil {
			return err
		}
		if err := insertIndex(ctx, t, r.Collection, r.ID, r.Index); err != nil {
			return err
		}
	}
	for _, ref := range ch.Deletes {
		var old []byte
		err := t.st.delRecord.QueryRowContext(ctx, ref.ID, ref.Collection).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return coffer.Errorf(coffer.ENOTFOUND, "record not found")
		}
		if err != nil {
			return err
		}
		if err := deleteIndex(ctx, t, ref.Collection, ref.ID, old); err != nil {
			return err
		}
	}
	return rowcodec.ApplyPrivacy(ctx, privTx{t}, ch)
}

func insertIndex(ctx context.Context, t *tx, collection, id string, index []coffer.IndexEntry) error {
	for _, ix := range index {
		if _, err := t.st.insIndex.ExecContext(ctx, collection, ix.Field, ix.Hash, id); err != nil {
			return err
		}
	}
	return nil
}

func deleteIndex(ctx context.Context, t *tx, collection, id string, encoded []byte) error {
	index, err := rowcodec.DecodeIndex(encoded)
	if err != nil {
		return fmt.Errorf("record %s: %w", id, err)
	}
	for _, ix := range index {
		if _, err := t.st.delIndex.ExecContext(ctx, collection, ix.Field, ix.Hash, id); err != nil {
			return err
		}
	}
	return nil
}

// Record implements coffer.Store.
func (s *Store) Record(ctx context.Context, collection, id string) (*coffer.StoredRecord, error) {
	r, gen := s.cache.get(id)
	if r != nil {
		if r.Collection != collection {
			return nil, coffer.Errorf(coffer.ENOTFOUND, "record not found")
		}
		return r, nil
	}
	r, err := rowcodec.ScanRecord(s.qRecord.QueryRowContext(ctx, id, collection))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "record not found")
	}
	if err != nil {
		return nil, err
	}
	s.cache.fill(r, gen)
	return r, nil
}

// FindRecords implements coffer.Store. The index yields record ids; the
// records come through Record and its cache.
func (s *Store) FindRecords(ctx context.Context, collection, field string, hash []byte, limit int) ([]*coffer.StoredRecord, error) {
	rows, err := s.qFind.QueryContext(ctx, collection, field, hash, limit)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]*coffer.StoredRecord, 0, len(ids))
	for _, id := range ids {
		r, err := s.Record(ctx, collection, id)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			continue // deleted since the index was read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Subject implements coffer.Store.
func (s *Store) Subject(ctx context.Context, id string) (*coffer.Subject, error) {
	sub, err := rowcodec.ScanSubject(s.qSubject.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "subject not found")
	}
	return sub, err
}

// SubjectsBelow implements coffer.Store.
func (s *Store) SubjectsBelow(ctx context.Context, version uint32, afterID string, limit int) ([]*coffer.Subject, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+rowcodec.SubjectColumns+` FROM subjects WHERE kek_version < ? AND id > ? ORDER BY id LIMIT ?`,
		version, afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanSubject)
}

// Rewrap implements coffer.Store.
func (s *Store) Rewrap(ctx context.Context, rewraps []coffer.Rewrap, e *coffer.AuditEntry) (int, error) {
	var n int
	err := s.write(ctx, e, func(ctx context.Context, t *tx) error {
		n = 0
		for _, r := range rewraps {
			res, err := t.conn.ExecContext(ctx, `UPDATE subjects SET dek = ?, kek_version = ? WHERE id = ? AND kek_version = ?`,
				r.WrappedDEK, r.KEKVersion, r.Subject, r.OldVersion)
			if err != nil {
				return err
			}
			c, _ := res.RowsAffected()
			n += int(c)
		}
		return nil
	})
	return n, err
}

// KEKVersions implements coffer.Store.
func (s *Store) KEKVersions(ctx context.Context) (map[uint32]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT kek_version, count(*) FROM subjects GROUP BY kek_version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uint32]int64{}
	for rows.Next() {
		var v uint32
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			return nil, err
		}
		out[v] = n
	}
	return out, rows.Err()
}
