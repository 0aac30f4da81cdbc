package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/rowcodec"
)

// CreateOperator implements coffer.Store.
func (s *Store) CreateOperator(ctx context.Context, o *coffer.Operator, e *coffer.AuditEntry) error {
	return s.write(ctx, e, func(ctx context.Context, t *tx) error {
		args := rowcodec.OperatorArgs(o)
		args[11] = int64(1) // version
		res, err := t.conn.ExecContext(ctx, `INSERT INTO operators (`+rowcodec.OperatorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (username) DO NOTHING`, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "operator already exists")
		}
		return nil
	})
}

// Operator implements coffer.Store.
func (s *Store) Operator(ctx context.Context, username string) (*coffer.Operator, error) {
	o, err := rowcodec.ScanOperator(s.rdb.QueryRowContext(ctx, `SELECT `+rowcodec.OperatorColumns+` FROM operators WHERE username = ?`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "operator not found")
	}
	return o, err
}

// Operators implements coffer.Store.
func (s *Store) Operators(ctx context.Context) ([]*coffer.Operator, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+rowcodec.OperatorColumns+` FROM operators ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanOperator)
}

// UpdateOperator implements coffer.Store.
func (s *Store) UpdateOperator(ctx context.Context, o *coffer.Operator, e *coffer.AuditEntry) error {
	return s.write(ctx, e, func(ctx context.Context, t *tx) error {
		a := rowcodec.OperatorArgs(o)
		res, err := t.conn.ExecContext(ctx, `UPDATE operators SET role = ?, password_hash = ?, totp_secret = ?, totp_last_step = ?, mfa_enrolled = ?,
			locked = ?, locked_until = ?, failed_logins = ?, policy_version = ?, trained_at = ?, webauthn = ?, version = version + 1 WHERE username = ? AND version = ?`,
			a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[12], a[13], o.Username, o.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "operator changed concurrently or was removed")
		}
		return nil
	})
}

// CreateSession implements coffer.Store.
func (s *Store) CreateSession(ctx context.Context, ss *coffer.Session, e *coffer.AuditEntry) error {
	return s.write(ctx, e, func(ctx context.Context, t *tx) error {
		_, err := t.conn.ExecContext(ctx, `INSERT INTO sessions (`+rowcodec.SessionColumns+`) VALUES (?, ?, ?, ?, ?, ?)`, rowcodec.SessionArgs(ss)...)
		return err
	})
}

// Session implements coffer.Store.
func (s *Store) Session(ctx context.Context, id string) (*coffer.Session, error) {
	ss, err := rowcodec.ScanSession(s.rdb.QueryRowContext(ctx, `SELECT `+rowcodec.SessionColumns+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "session not found")
	}
	return ss, err
}

// SeeSession implements coffer.Store.
func (s *Store) SeeSession(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, nil, func(ctx context.Context, t *tx) error {
		_, err := t.conn.ExecContext(ctx, `UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?`, at.UnixNano(), id)
		return err
	})
}

// DeleteSessions implements coffer.Store.
func (s *Store) DeleteSessions(ctx context.Context, id, username string, e *coffer.AuditEntry) error {
	return s.write(ctx, e, func(ctx context.Context, t *tx) error {
		var err error
		if id != "" {
			_, err = t.conn.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
		} else {
			_, err = t.conn.ExecContext(ctx, `DELETE FROM sessions WHERE username = ?`, username)
		}
		return err
	})
}
