package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/rowcodec"
)

// CreateOperator implements coffer.Store.
func (s *Store) CreateOperator(ctx context.Context, o *coffer.Operator, e *coffer.AuditEntry) error {
	return s.write(ctx, one(e), func(ctx context.Context, tx pgx.Tx) error {
		args := rowcodec.OperatorArgs(o)
		args[11] = int64(1) // version
		tag, err := tx.Exec(ctx, `INSERT INTO operators (`+rowcodec.OperatorColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (username) DO NOTHING`, args...)
		if err == nil && tag.RowsAffected() == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "operator already exists")
		}
		return err
	})
}

// Operator implements coffer.Store.
func (s *Store) Operator(ctx context.Context, username string) (*coffer.Operator, error) {
	o, err := rowcodec.ScanOperator(s.pool.QueryRow(ctx, `SELECT `+rowcodec.OperatorColumns+` FROM operators WHERE username = $1`, username))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "operator not found")
	}
	return o, err
}

// Operators implements coffer.Store.
func (s *Store) Operators(ctx context.Context) ([]*coffer.Operator, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rowcodec.OperatorColumns+` FROM operators ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanOperator)
}

// UpdateOperator implements coffer.Store.
func (s *Store) UpdateOperator(ctx context.Context, o *coffer.Operator, e *coffer.AuditEntry) error {
	return s.write(ctx, one(e), func(ctx context.Context, tx pgx.Tx) error {
		a := rowcodec.OperatorArgs(o)
		tag, err := tx.Exec(ctx, `UPDATE operators SET role = $1, password_hash = $2, totp_secret = $3, totp_last_step = $4, mfa_enrolled = $5,
			locked = $6, locked_until = $7, failed_logins = $8, policy_version = $9, trained_at = $10, webauthn = $11, version = version + 1 WHERE username = $12 AND version = $13`,
			a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[12], a[13], o.Username, o.Version)
		if err == nil && tag.RowsAffected() == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "operator changed concurrently or was removed")
		}
		return err
	})
}

// CreateSession implements coffer.Store.
func (s *Store) CreateSession(ctx context.Context, ss *coffer.Session, e *coffer.AuditEntry) error {
	return s.write(ctx, one(e), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions (`+rowcodec.SessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`, rowcodec.SessionArgs(ss)...)
		return err
	})
}

// Session implements coffer.Store.
func (s *Store) Session(ctx context.Context, id string) (*coffer.Session, error) {
	ss, err := rowcodec.ScanSession(s.pool.QueryRow(ctx, `SELECT `+rowcodec.SessionColumns+` FROM sessions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "session not found")
	}
	return ss, err
}

// SeeSession implements coffer.Store.
func (s *Store) SeeSession(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, nil, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2`, at.UnixNano(), id)
		return err
	})
}

// DeleteSessions implements coffer.Store.
func (s *Store) DeleteSessions(ctx context.Context, id, username string, e *coffer.AuditEntry) error {
	return s.write(ctx, one(e), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if id != "" {
			_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
		} else {
			_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE username = $1`, username)
		}
		return err
	})
}
