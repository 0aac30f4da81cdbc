package rowcodec

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
)

// Column list and queries of the token vault (? placeholders).
const (
	TokenColumns  = `token, namespace, fingerprint, value, subject, created_at, expires_at, revoked_at`
	QueryTokenKey = `SELECT namespace, dek, kek_version, created_at FROM token_keys WHERE namespace = ?`
)

// TokensQuery selects the tokens named by ids.
func TokensQuery(ids []string) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return `SELECT ` + TokenColumns + ` FROM tokens WHERE token IN (` + strings.Repeat("?, ", len(ids)-1) + `?)`, args
}

// ScanToken reads TokenColumns.
func ScanToken(row Row) (*coffer.Token, error) {
	var t coffer.Token
	var created, expires, revoked int64
	if err := row.Scan(&t.Token, &t.Namespace, &t.Fingerprint, &t.Value, &t.Subject, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = FromNanos(created), FromNanos(expires), FromNanos(revoked)
	return &t, nil
}

// ScanTokenKey reads a QueryTokenKey row.
func ScanTokenKey(row Row) (*coffer.TokenKey, error) {
	var k coffer.TokenKey
	var version, created int64
	if err := row.Scan(&k.Namespace, &k.WrappedKey, &version, &created); err != nil {
		return nil, err
	}
	k.KEKVersion, k.CreatedAt = uint32(version), FromNanos(created)
	return &k, nil
}

// tokenChunk is how many tokens one INSERT carries (8 parameters each).
const tokenChunk = 100

// applyTokens stores token keys and tokens and revokes tokens.
func applyTokens(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, k := range ch.NewTokenKeys {
		if _, err := tx.Exec(ctx, `INSERT INTO token_keys (namespace, dek, kek_version, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (namespace) DO NOTHING`,
			k.Namespace, k.WrappedKey, int64(k.KEKVersion), Nanos(k.CreatedAt)); err != nil {
			return err
		}
	}
	for chunk := range slices.Chunk(ch.NewTokens, tokenChunk) {
		args := make([]any, 0, 8*len(chunk))
		for _, t := range chunk {
			args = append(args, t.Token, t.Namespace, t.Fingerprint, t.Value, t.Subject, Nanos(t.CreatedAt), Nanos(t.ExpiresAt), Nanos(t.RevokedAt))
		}
		n, err := tx.Exec(ctx, `INSERT INTO tokens (`+TokenColumns+`) VALUES `+
			strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?), ", len(chunk)-1)+`(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (token) DO NOTHING`, args...)
		if err != nil {
			return err
		}
		if int(n) == len(chunk) {
			continue
		}
		// Some existed: each must be the same value in the same namespace.
		for _, t := range chunk {
			var ns string
			var fp []byte
			err := tx.QueryRow(ctx, `SELECT namespace, fingerprint FROM tokens WHERE token = ?`, t.Token).Scan(&ns, &fp)
			if err != nil && !errors.Is(err, tx.ErrNoRows()) {
				return err
			}
			if ns != t.Namespace || !bytes.Equal(fp, t.Fingerprint) {
				return coffer.Errorf(coffer.ECONFLICT, "token collision: another value already has a token of this batch")
			}
		}
	}
	for _, id := range ch.RevokeTokens {
		n, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE token = ? AND revoked_at = 0`, Nanos(timeNow()), id)
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "token not found or already revoked")
		}
	}
	return nil
}
