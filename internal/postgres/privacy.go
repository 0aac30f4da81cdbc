package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/rowcodec"
)

// privTx adapts a pgx transaction to rowcodec.Tx.
type privTx struct{ tx pgx.Tx }

func (p privTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.tx.Exec(ctx, rowcodec.Rebind(q), args...)
	return tag.RowsAffected(), err
}

func (p privTx) QueryRow(ctx context.Context, q string, args ...any) rowcodec.Row {
	return p.tx.QueryRow(ctx, rowcodec.Rebind(q), args...)
}

func (privTx) ErrNoRows() error { return pgx.ErrNoRows }

func collect[T any](ctx context.Context, s *Store, scan func(rowcodec.Row) (T, error), q string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, rowcodec.Rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, scan)
}

// SubjectRecords implements coffer.Store.
func (s *Store) SubjectRecords(ctx context.Context, subject string) ([]*coffer.StoredRecord, error) {
	return collect(ctx, s, rowcodec.ScanRecord, rowcodec.QuerySubjectRecords, subject)
}

// Consents implements coffer.Store.
func (s *Store) Consents(ctx context.Context, subject string) ([]*coffer.ConsentEvent, error) {
	return collect(ctx, s, rowcodec.ScanConsent, rowcodec.QueryConsents, subject)
}

// ExpiredRecords implements coffer.Store.
func (s *Store) ExpiredRecords(ctx context.Context, collection string, cutoff, afterUpdated time.Time, afterID string, limit int) ([]*coffer.StoredRecord, error) {
	return collect(ctx, s, rowcodec.ScanExpired, rowcodec.QueryExpired, collection, cutoff.UnixNano(), rowcodec.Nanos(afterUpdated), rowcodec.Nanos(afterUpdated), afterID, limit)
}

// Erased implements coffer.Store.
func (s *Store) Erased(ctx context.Context, hash []byte) (bool, error) {
	var n int64
	err := s.pool.QueryRow(ctx, rowcodec.Rebind(rowcodec.QueryErased), hash).Scan(&n)
	return n > 0, err
}

// Request implements coffer.Store.
func (s *Store) Request(ctx context.Context, id string) (*coffer.Request, error) {
	r, err := rowcodec.ScanRequest(s.pool.QueryRow(ctx, rowcodec.Rebind(rowcodec.QueryRequest), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "request not found")
	}
	return r, err
}

// Requests implements coffer.Store.
func (s *Store) Requests(ctx context.Context, f coffer.RequestFilter) ([]*coffer.Request, error) {
	q, args := rowcodec.RequestsQuery(f)
	return collect(ctx, s, rowcodec.ScanRequest, q, args...)
}

// TokenKey implements coffer.Store.
func (s *Store) TokenKey(ctx context.Context, namespace string) (*coffer.TokenKey, error) {
	k, err := rowcodec.ScanTokenKey(s.pool.QueryRow(ctx, rowcodec.Rebind(rowcodec.QueryTokenKey), namespace))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "token namespace not found")
	}
	return k, err
}

// Tokens implements coffer.Store.
func (s *Store) Tokens(ctx context.Context, ids []string) (map[string]*coffer.Token, error) {
	out := make(map[string]*coffer.Token, len(ids))
	for chunk := range slices.Chunk(ids, 500) {
		q, args := rowcodec.TokensQuery(chunk)
		ts, err := collect(ctx, s, rowcodec.ScanToken, q, args...)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			out[t.Token] = t
		}
	}
	return out, nil
}
