package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/rowcodec"
)

// privTx adapts the writer's transaction to rowcodec.Tx.
type privTx struct{ t *tx }

// maxPrepared bounds the writer's cache of prepared statements.
const maxPrepared = 256

// stmt returns q prepared on the writer's connection, from the cache.
func (p privTx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st := p.t.st.other[q]; st != nil {
		return st, nil
	}
	st, err := p.t.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if p.t.st.other == nil {
		p.t.st.other = map[string]*sql.Stmt{}
	}
	if len(p.t.st.other) < maxPrepared {
		p.t.st.other[q] = st
	}
	return st, nil
}

func (p privTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	st, err := p.stmt(ctx, q)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (p privTx) QueryRow(ctx context.Context, q string, args ...any) rowcodec.Row {
	st, err := p.stmt(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (privTx) ErrNoRows() error { return sql.ErrNoRows }

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.rdb.QueryContext(ctx, q, args...)
}

// SubjectRecords implements coffer.Store.
func (s *Store) SubjectRecords(ctx context.Context, subject string) ([]*coffer.StoredRecord, error) {
	rows, err := s.query(ctx, rowcodec.QuerySubjectRecords, subject)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanRecord)
}

// Consents implements coffer.Store.
func (s *Store) Consents(ctx context.Context, subject string) ([]*coffer.ConsentEvent, error) {
	rows, err := s.query(ctx, rowcodec.QueryConsents, subject)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanConsent)
}

// ExpiredRecords implements coffer.Store.
func (s *Store) ExpiredRecords(ctx context.Context, collection string, cutoff, afterUpdated time.Time, afterID string, limit int) ([]*coffer.StoredRecord, error) {
	rows, err := s.query(ctx, rowcodec.QueryExpired, collection, cutoff.UnixNano(), rowcodec.Nanos(afterUpdated), rowcodec.Nanos(afterUpdated), afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanExpired)
}

// Erased implements coffer.Store.
func (s *Store) Erased(ctx context.Context, hash []byte) (bool, error) {
	var n int64
	err := s.rdb.QueryRowContext(ctx, rowcodec.QueryErased, hash).Scan(&n)
	return n > 0, err
}

// Request implements coffer.Store.
func (s *Store) Request(ctx context.Context, id string) (*coffer.Request, error) {
	r, err := rowcodec.ScanRequest(s.rdb.QueryRowContext(ctx, rowcodec.QueryRequest, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "request not found")
	}
	return r, err
}

// Requests implements coffer.Store.
func (s *Store) Requests(ctx context.Context, f coffer.RequestFilter) ([]*coffer.Request, error) {
	q, args := rowcodec.RequestsQuery(f)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanRequest)
}

// TokenKey implements coffer.Store.
func (s *Store) TokenKey(ctx context.Context, namespace string) (*coffer.TokenKey, error) {
	k, err := rowcodec.ScanTokenKey(s.rdb.QueryRowContext(ctx, rowcodec.QueryTokenKey, namespace))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "token namespace not found")
	}
	return k, err
}

// Tokens implements coffer.Store.
func (s *Store) Tokens(ctx context.Context, ids []string) (map[string]*coffer.Token, error) {
	out := make(map[string]*coffer.Token, len(ids))
	for chunk := range slices.Chunk(ids, 500) {
		q, args := rowcodec.TokensQuery(chunk)
		rows, err := s.query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		ts, err := rowcodec.Collect(rows, rowcodec.ScanToken)
		rows.Close()
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			out[t.Token] = t
		}
	}
	return out, nil
}
