package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/rowcodec"
)

// CreateAPIKey implements coffer.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *coffer.APIKey, e *coffer.AuditEntry) error {
	return s.write(ctx, e, func(ctx context.Context, t *tx) error {
		res, err := t.conn.ExecContext(ctx, `INSERT INTO api_keys (id, name, role, hash, allowed_cidrs, created_at, expires_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (id) DO NOTHING`,
			k.ID, k.Name, k.Role, k.Hash, strings.Join(k.AllowedCIDRs, ","), rowcodec.Nanos(k.CreatedAt), rowcodec.Nanos(k.ExpiresAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "api key id already exists")
		}
		return nil
	})
}

// TouchAPIKeys implements coffer.Store.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	return s.write(ctx, nil, func(ctx context.Context, t *tx) error {
		for id, at := range used {
			if _, err := t.conn.ExecContext(ctx, `UPDATE api_keys SET last_used_at = max(last_used_at, ?) WHERE id = ?`, at.UnixNano(), id); err != nil {
				return err
			}
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

// APIKey implements coffer.Store.
func (s *Store) APIKey(ctx context.Context, id string) (*coffer.APIKey, error) {
	k, err := rowcodec.ScanKey(s.rdb.QueryRowContext(ctx, `SELECT `+rowcodec.KeyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "api key not found")
	}
	return k, err
}

// APIKeys implements coffer.Store.
func (s *Store) APIKeys(ctx context.Context) ([]*coffer.APIKey, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+rowcodec.KeyColumns+` FROM api_keys ORDER BY created_at DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanKey)
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
