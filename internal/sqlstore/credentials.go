package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// CreateAPIKey implements coffer.CredentialStore.
func (s *Store) CreateAPIKey(ctx context.Context, k *coffer.APIKey, e *coffer.AuditEntry) error {
	return s.write(ctx, &Write{Audit: one(e), Apply: func(ctx context.Context, tx Tx) error {
		n, err := tx.Exec(ctx, `INSERT INTO api_keys (id, name, role, hash, allowed_cidrs, created_at, expires_at, revoked_at, mac)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (id) DO NOTHING`,
			k.ID, k.Name, k.Role, k.Hash, strings.Join(k.AllowedCIDRs, ","), nanos(k.CreatedAt), nanos(k.ExpiresAt), k.MAC)
		if err == nil && n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "api key id already exists")
		}
		return err
	}})
}

// APIKey implements coffer.CredentialStore.
func (s *Store) APIKey(ctx context.Context, id string) (*coffer.APIKey, error) {
	k, err := scanKey(s.DB.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	return notFound(k, err, "api key not found")
}

// APIKeys implements coffer.CredentialStore.
func (s *Store) APIKeys(ctx context.Context) ([]*coffer.APIKey, error) {
	return collect(ctx, s.DB, scanKey, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at DESC`)
}

// TouchAPIKeys implements coffer.CredentialStore.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	return s.write(ctx, &Write{Apply: func(ctx context.Context, tx Tx) error {
		for id, at := range used {
			if _, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ? AND last_used_at < ?`, at.UnixNano(), id, at.UnixNano()); err != nil {
				return err
			}
		}
		return nil
	}})
}

// RevokeAPIKey implements coffer.CredentialStore.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time, e *coffer.AuditEntry) error {
	return s.write(ctx, &Write{Audit: one(e), Apply: func(ctx context.Context, tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, at.UnixNano(), id)
		if err == nil && n == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "api key not found or already revoked")
		}
		return err
	}})
}

// CreateOperator implements coffer.OperatorStore.
func (s *Store) CreateOperator(ctx context.Context, o *coffer.Operator, e *coffer.AuditEntry) error {
	return s.write(ctx, &Write{Audit: one(e), Apply: func(ctx context.Context, tx Tx) error {
		args := operatorArgs(o)
		args[11] = int64(1) // version
		n, err := tx.Exec(ctx, `INSERT INTO operators (`+operatorColumns+`) VALUES `+params(16)+` ON CONFLICT (username) DO NOTHING`, args...)
		if err == nil && n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "operator already exists")
		}
		return err
	}})
}

// Operator implements coffer.OperatorStore.
func (s *Store) Operator(ctx context.Context, username string) (*coffer.Operator, error) {
	o, err := scanOperator(s.DB.QueryRow(ctx, `SELECT `+operatorColumns+` FROM operators WHERE username = ?`, username))
	return notFound(o, err, "operator not found")
}

// Operators implements coffer.OperatorStore.
func (s *Store) Operators(ctx context.Context) ([]*coffer.Operator, error) {
	return collect(ctx, s.DB, scanOperator, `SELECT `+operatorColumns+` FROM operators ORDER BY username`)
}

// UpdateOperator implements coffer.OperatorStore.
func (s *Store) UpdateOperator(ctx context.Context, o *coffer.Operator, e *coffer.AuditEntry) error {
	return s.write(ctx, &Write{Audit: one(e), Apply: func(ctx context.Context, tx Tx) error {
		a := operatorArgs(o)
		n, err := tx.Exec(ctx, `UPDATE operators SET role = ?, password_hash = ?, totp_secret = ?, totp_last_step = ?, mfa_enrolled = ?,
			locked = ?, locked_until = ?, failed_logins = ?, policy_version = ?, trained_at = ?, webauthn = ?, mac = ?, totp_version = ?, version = version + 1 WHERE username = ? AND version = ?`,
			a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[12], a[13], a[14], a[15], o.Username, o.Version)
		if err == nil && n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "operator changed concurrently or was removed")
		}
		return err
	}})
}

// CreateSession implements coffer.OperatorStore.
func (s *Store) CreateSession(ctx context.Context, ss *coffer.Session, e *coffer.AuditEntry) error {
	return s.write(ctx, &Write{Audit: one(e), Apply: func(ctx context.Context, tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES `+params(6), sessionArgs(ss)...)
		return err
	}})
}

// Session implements coffer.OperatorStore.
func (s *Store) Session(ctx context.Context, id string) (*coffer.Session, error) {
	ss, err := scanSession(s.DB.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	return notFound(ss, err, "session not found")
}

// SeeSession implements coffer.OperatorStore.
func (s *Store) SeeSession(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, &Write{Apply: func(ctx context.Context, tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`, at.UnixNano(), id, at.UnixNano())
		return err
	}})
}

// DeleteSessions implements coffer.OperatorStore.
func (s *Store) DeleteSessions(ctx context.Context, id, username string, e *coffer.AuditEntry) error {
	return s.write(ctx, &Write{Audit: one(e), Apply: func(ctx context.Context, tx Tx) error {
		var err error
		if id != "" {
			_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
		} else {
			_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE username = ?`, username)
		}
		return err
	}})
}

// SaveSchema implements coffer.SchemaStore.
func (s *Store) SaveSchema(ctx context.Context, doc []byte, at time.Time, e *coffer.AuditEntry) error {
	return s.SaveSchemaMAC(ctx, doc, nil, at, e)
}

// SaveSchemaMAC implements coffer.SchemaStore.
func (s *Store) SaveSchemaMAC(ctx context.Context, doc, mac []byte, at time.Time, e *coffer.AuditEntry) error {
	return s.write(ctx, &Write{Audit: one(e), Apply: func(ctx context.Context, tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO schema_doc (id, doc, updated_at, mac) VALUES (1, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at, mac = excluded.mac`, doc, at.UnixNano(), mac)
		return err
	}})
}

// SchemaMAC implements coffer.SchemaStore.
func (s *Store) SchemaMAC(ctx context.Context) ([]byte, error) {
	var mac []byte
	err := s.DB.QueryRow(ctx, `SELECT mac FROM schema_doc WHERE id = 1`).Scan(&mac)
	return notFound(mac, err, "no schema stored")
}

// SetCredentialMACs implements coffer.CredentialStore.
func (s *Store) SetCredentialMACs(ctx context.Context, m *coffer.CredentialMACs, e *coffer.AuditEntry) error {
	return s.write(ctx, &Write{Audit: one(e), Apply: func(ctx context.Context, tx Tx) error {
		for _, k := range m.APIKeys {
			if _, err := tx.Exec(ctx, `UPDATE api_keys SET hash = ?, mac = ? WHERE id = ? AND mac IS NULL`, k.Hash, k.MAC, k.ID); err != nil {
				return err
			}
		}
		for u, mac := range m.Operators {
			if _, err := tx.Exec(ctx, `UPDATE operators SET mac = ? WHERE username = ? AND mac IS NULL`, mac, u); err != nil {
				return err
			}
		}
		if m.Schema != nil {
			if _, err := tx.Exec(ctx, `UPDATE schema_doc SET mac = ? WHERE id = 1 AND mac IS NULL`, m.Schema); err != nil {
				return err
			}
		}
		return nil
	}})
}

// Schema implements coffer.SchemaStore.
func (s *Store) Schema(ctx context.Context) ([]byte, error) {
	var doc []byte
	err := s.DB.QueryRow(ctx, `SELECT doc FROM schema_doc WHERE id = 1`).Scan(&doc)
	return notFound(doc, err, "no schema stored")
}
