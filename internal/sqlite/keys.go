package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// CreateAPIKey implements coffer.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *coffer.APIKey, e *coffer.AuditEntry) error {
	return s.write(ctx, e, func(ctx context.Context, t *tx) error {
		res, err := t.conn.ExecContext(ctx, `INSERT INTO api_keys (id, name, role, hash, allowed_cidrs, created_at, expires_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (id) DO NOTHING`,
			k.ID, k.Name, k.Role, k.Hash, strings.Join(k.AllowedCIDRs, ","), nanos(k.CreatedAt), nanos(k.ExpiresAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "api key id already exists")
		}
		return nil
	})
}

// RevokeAPIKey implements coffer.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, e *coffer.AuditEntry) error {
	return s.write(ctx, e, func(ctx context.Context, t *tx) error {
		res, err := t.conn.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, time.Now().UnixNano(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "api key not found or already revoked")
		}
		return nil
	})
}

const keyColumns = `id, name, role, hash, allowed_cidrs, created_at, expires_at, revoked_at`

func scanKey(row scanner) (*coffer.APIKey, error) {
	var k coffer.APIKey
	var cidrs string
	var created, expires, revoked int64
	if err := row.Scan(&k.ID, &k.Name, &k.Role, &k.Hash, &cidrs, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	if cidrs != "" {
		k.AllowedCIDRs = strings.Split(cidrs, ",")
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = fromNanos(created), fromNanos(expires), fromNanos(revoked)
	return &k, nil
}

// APIKey implements coffer.Store.
func (s *Store) APIKey(ctx context.Context, id string) (*coffer.APIKey, error) {
	k, err := scanKey(s.rdb.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "api key not found")
	}
	return k, err
}

// APIKeys implements coffer.Store.
func (s *Store) APIKeys(ctx context.Context) ([]*coffer.APIKey, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*coffer.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// SaveSchema implements coffer.Store.
func (s *Store) SaveSchema(ctx context.Context, doc []byte, e *coffer.AuditEntry) error {
	return s.write(ctx, e, func(ctx context.Context, t *tx) error {
		_, err := t.conn.ExecContext(ctx, `INSERT INTO schema_doc (id, doc, updated_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`, doc, time.Now().UnixNano())
		return err
	})
}

// Schema implements coffer.Store.
func (s *Store) Schema(ctx context.Context) ([]byte, error) {
	var doc []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT doc FROM schema_doc WHERE id = 1`).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "no schema stored")
	}
	return doc, err
}

func (s *Store) write(ctx context.Context, e *coffer.AuditEntry, apply func(context.Context, *tx) error) error {
	if s.w == nil {
		return errReadOnly
	}
	o := &op{apply: apply}
	if e != nil {
		o.audit = []*coffer.AuditEntry{e}
	}
	return s.w.do(ctx, o)
}
