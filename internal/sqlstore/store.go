package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// Write is one write the store's writer runs in its next transaction:
// Apply (nil: audit entries only), then the audit entries linked into the
// chain. The writer stamps the entries' Seq, Time, PrevHash and Hash; when
// Apply fails with a domain error it rolls back the change alone and still
// appends the entries, with Outcome error and Reason the error's code.
type Write struct {
	Apply func(context.Context, Tx) error
	Audit []*coffer.AuditEntry
	// Committed, if set, runs in the writer once the transaction committed
	// (in commit order, before the caller is answered).
	Committed func()
	// Final asks that the caller be answered only once no page of the
	// database or its log still holds what the write deleted (an erasure,
	// SPEC §4). The SQLite writer then runs a truncating checkpoint after
	// the commit; PostgreSQL's writer has nothing to add.
	Final bool
}

// Writer queues a Write and waits until it is durable, or failed.
type Writer interface {
	Write(ctx context.Context, w *Write) error
}

// Run calls w.Apply, turning a panic into an error (EINTERNAL: the batch
// fails, the writer goes on). Both writers apply changes through it.
func (w *Write) Run(ctx context.Context, tx Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &coffer.Error{Code: coffer.EINTERNAL, Message: "storage failure", Err: fmt.Errorf("panic in store writer: %v", r)}
		}
	}()
	if w.Apply == nil {
		return nil
	}
	return w.Apply(ctx, tx)
}

// Store is coffer.Store, but for Close, over a read pool and a writer;
// internal/sqlite and internal/postgres embed it.
type Store struct {
	DB DB
	W  Writer // nil: read-only
	// OnCommit, if set, sees every committed Change (the SQLite store's
	// record cache).
	OnCommit func(*coffer.Change)
}

var errReadOnly = &coffer.Error{Code: coffer.EINTERNAL, Message: "store is read-only"}

func (s *Store) write(ctx context.Context, w *Write) error {
	if s.W == nil {
		return errReadOnly
	}
	return s.W.Write(ctx, w)
}

func one(e *coffer.AuditEntry) []*coffer.AuditEntry {
	if e == nil {
		return nil
	}
	return []*coffer.AuditEntry{e}
}

// notFound maps "no row" to ENOTFOUND with msg.
func notFound[T any](v T, err error, msg string) (T, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return v, coffer.Errorf(coffer.ENOTFOUND, "%s", msg)
	}
	return v, err
}

// collect runs q and scans every row.
func collect[T any](ctx context.Context, db DB, scan func(Row) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Commit implements coffer.Committer.
func (s *Store) Commit(ctx context.Context, ch *coffer.Change) error {
	w := &Write{Apply: func(ctx context.Context, tx Tx) error { return ApplyChange(ctx, tx, ch) }, Audit: ch.Audit,
		Final: len(ch.Erasures) > 0}
	if s.OnCommit != nil {
		w.Committed = func() { s.OnCommit(ch) }
	}
	return s.write(ctx, w)
}

// Ping reports whether the database answers (GET /v1/ready).
func (s *Store) Ping(ctx context.Context) error {
	var one int64
	return s.DB.QueryRow(ctx, `SELECT 1`).Scan(&one)
}

// AppendAudit implements coffer.Committer.
func (s *Store) AppendAudit(ctx context.Context, entries ...*coffer.AuditEntry) error {
	return s.write(ctx, &Write{Audit: entries})
}

// Record implements coffer.RecordReader.
func (s *Store) Record(ctx context.Context, collection, id string) (*coffer.StoredRecord, error) {
	r, err := scanRecord(s.DB.QueryRow(ctx, `SELECT `+recordColumns+` FROM records WHERE id = ? AND collection = ?`, id, collection))
	return notFound(r, err, "record not found")
}

// SubjectRecords implements coffer.RecordReader.
func (s *Store) SubjectRecords(ctx context.Context, subject string) ([]*coffer.StoredRecord, error) {
	return collect(ctx, s.DB, scanRecord, `SELECT `+recordColumns+` FROM records WHERE subject = ? ORDER BY created_at, id`, subject)
}

// Subject implements coffer.SubjectStore.
func (s *Store) Subject(ctx context.Context, id string) (*coffer.Subject, error) {
	sub, err := scanSubject(s.DB.QueryRow(ctx, `SELECT `+subjectColumns+` FROM subjects WHERE id = ?`, id))
	return notFound(sub, err, "subject not found")
}

// SubjectsBelow implements coffer.SubjectStore.
func (s *Store) SubjectsBelow(ctx context.Context, version uint32, afterID string, limit int) ([]*coffer.Subject, error) {
	return collect(ctx, s.DB, scanSubject, `SELECT `+subjectColumns+` FROM subjects WHERE kek_version < ? AND id > ? ORDER BY id LIMIT ?`,
		int64(version), afterID, limit)
}

// Rewrap implements coffer.SubjectStore.
func (s *Store) Rewrap(ctx context.Context, rewraps []coffer.Rewrap, e *coffer.AuditEntry) (int, error) {
	var n int
	err := s.write(ctx, &Write{Audit: one(e), Apply: func(ctx context.Context, tx Tx) error {
		n = 0
		for _, r := range rewraps {
			q, id := `UPDATE subjects SET dek = ?, kek_version = ? WHERE id = ? AND kek_version = ?`, r.Subject
			if r.Namespace != "" {
				q, id = `UPDATE token_keys SET dek = ?, kek_version = ? WHERE namespace = ? AND kek_version = ?`, r.Namespace
			}
			c, err := tx.Exec(ctx, q, r.WrappedDEK, int64(r.KEKVersion), id, int64(r.OldVersion))
			if err != nil {
				return err
			}
			n += int(c)
		}
		return nil
	}})
	if err != nil {
		return 0, err // ctx ended: the writer may still be applying it, n is its own
	}
	return n, nil
}

// KEKVersions implements coffer.SubjectStore.
func (s *Store) KEKVersions(ctx context.Context) (map[uint32]int64, error) {
	return s.countVersions(ctx, `SELECT kek_version, count(*) FROM subjects GROUP BY kek_version`)
}

// TokenKEKVersions implements coffer.SubjectStore.
func (s *Store) TokenKEKVersions(ctx context.Context) (map[uint32]int64, error) {
	return s.countVersions(ctx, `SELECT kek_version, count(*) FROM token_keys GROUP BY kek_version`)
}

// TokenKeysBelow implements coffer.SubjectStore.
func (s *Store) TokenKeysBelow(ctx context.Context, version uint32, afterNS string, limit int) ([]*coffer.TokenKey, error) {
	return collect(ctx, s.DB, scanTokenKey, `SELECT namespace, dek, kek_version, created_at FROM token_keys
		WHERE kek_version < ? AND namespace > ? ORDER BY namespace LIMIT ?`, int64(version), afterNS, limit)
}

func (s *Store) countVersions(ctx context.Context, query string) (map[uint32]int64, error) {
	type count struct{ version, n int64 }
	cs, err := collect(ctx, s.DB, func(r Row) (c count, err error) { return c, r.Scan(&c.version, &c.n) }, query)
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]int64, len(cs))
	for _, c := range cs {
		out[uint32(c.version)] = c.n
	}
	return out, nil
}

// Consents implements coffer.PrivacyReader.
func (s *Store) Consents(ctx context.Context, subject string) ([]*coffer.ConsentEvent, error) {
	return collect(ctx, s.DB, scanConsent, `SELECT `+consentColumns+` FROM consent_events WHERE subject = ? ORDER BY seq`, subject)
}

// Erased implements coffer.PrivacyReader: one lookup of the primary key
// per hash, in one statement.
func (s *Store) Erased(ctx context.Context, hashes ...[]byte) (bool, error) {
	if len(hashes) == 0 {
		return false, nil
	}
	args := make([]any, len(hashes))
	for i, h := range hashes {
		args[i] = h
	}
	var n int64
	if err := s.DB.QueryRow(ctx, `SELECT count(*) FROM erasure_ledger WHERE hash IN `+params(len(hashes)), args...).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// ErasureLedger implements coffer.PrivacyReader.
func (s *Store) ErasureLedger(ctx context.Context) ([]coffer.LedgerEntry, error) {
	return collect(ctx, s.DB, func(r Row) (e coffer.LedgerEntry, err error) {
		var ver, at int64
		err = r.Scan(&e.Hash, &ver, &at)
		e.Version, e.ErasedAt = uint32(ver), fromNanos(at)
		return e, err
	}, `SELECT hash, key_version, erased_at FROM erasure_ledger ORDER BY erased_at, hash`)
}

// Request implements coffer.PrivacyReader.
func (s *Store) Request(ctx context.Context, id string) (*coffer.Request, error) {
	r, err := scanRequest(s.DB.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
	return notFound(r, err, "request not found")
}

// Requests implements coffer.PrivacyReader.
func (s *Store) Requests(ctx context.Context, f coffer.RequestFilter) ([]*coffer.Request, error) {
	q := `SELECT ` + requestColumns + ` FROM requests WHERE 1 = 1`
	var args []any
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if !f.FinishedBefore.IsZero() {
		q += ` AND completed_at > 0 AND completed_at < ?`
		args = append(args, f.FinishedBefore.UnixNano())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	args = append(args, min(limit, coffer.MaxRequestList))
	return collect(ctx, s.DB, scanRequest, q+` ORDER BY received_at DESC, id LIMIT ?`, args...)
}

// TokenKey implements coffer.TokenReader.
func (s *Store) TokenKey(ctx context.Context, namespace string) (*coffer.TokenKey, error) {
	k, err := scanTokenKey(s.DB.QueryRow(ctx, `SELECT namespace, dek, kek_version, created_at FROM token_keys WHERE namespace = ?`, namespace))
	return notFound(k, err, "token namespace not found")
}

// NamedKeyVersions implements coffer.NamedKeyReader.
func (s *Store) NamedKeyVersions(ctx context.Context, kind coffer.NamedKeyKind, name string) ([]*coffer.NamedKey, error) {
	return collect(ctx, s.DB, scanNamedKey, `SELECT kind, name, version, derived_version, created_at FROM named_keys
		WHERE kind = ? AND name = ? ORDER BY version`, string(kind), name)
}

// NamedKeys implements coffer.NamedKeyReader.
func (s *Store) NamedKeys(ctx context.Context) ([]*coffer.NamedKey, error) {
	return collect(ctx, s.DB, scanNamedKey, `SELECT kind, name, version, derived_version, created_at FROM named_keys
		ORDER BY kind, name, version`)
}

// Tokens implements coffer.TokenReader.
func (s *Store) Tokens(ctx context.Context, ids []string) (map[string]*coffer.Token, error) {
	out := make(map[string]*coffer.Token, len(ids))
	for chunk := range slices.Chunk(ids, 500) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		ts, err := collect(ctx, s.DB, scanToken, `SELECT `+tokenColumns+` FROM tokens WHERE token IN `+params(len(chunk))+notPurged, args...)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			out[t.Token] = t
		}
	}
	return out, nil
}

// notPurged leaves out the tokens of a record field (namespace
// collection.field) that a pending purge covers: a schema change's dropped
// values are invisible from its commit on, before the job deletes them.
const notPurged = ` AND NOT EXISTS (SELECT 1 FROM purges p WHERE tokens.namespace = p.collection || '.' || p.field
	OR (p.field = '' AND substr(tokens.namespace, 1, length(p.collection) + 1) = p.collection || '.'))`

// ExpiredTokens implements coffer.TokenReader.
func (s *Store) ExpiredTokens(ctx context.Context, cutoff time.Time, limit int) ([]*coffer.Token, error) {
	return collect(ctx, s.DB, scanToken, `SELECT `+tokenColumns+` FROM tokens WHERE expires_at > 0 AND expires_at < ? ORDER BY expires_at LIMIT ?`,
		cutoff.UnixNano(), limit)
}

// Purges implements coffer.SchemaStore.
func (s *Store) Purges(ctx context.Context) ([]*coffer.Purge, error) {
	return collect(ctx, s.DB, scanPurge, `SELECT `+purgeColumns+` FROM purges ORDER BY created_at, id`)
}

// CountValues implements coffer.SchemaStore. It reads the collection's
// records once (a schema change is rare; the count names what it would
// orphan).
func (s *Store) CountValues(ctx context.Context, collection string) (int64, map[string]int64, error) {
	rows, err := s.DB.Query(ctx, `SELECT fields FROM records WHERE collection = ?`, collection)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var n int64
	fields := map[string]int64{}
	for rows.Next() {
		var blob []byte
		if err := rows.Scan(&blob); err != nil {
			return 0, nil, err
		}
		f, err := decodeFields(blob)
		if err != nil {
			return 0, nil, err
		}
		n++
		for name := range f {
			fields[name]++
		}
	}
	return n, fields, rows.Err()
}

// Audit implements coffer.AuditReader.
func (s *Store) Audit(ctx context.Context, f coffer.AuditFilter) ([]*coffer.AuditEntry, error) {
	var b strings.Builder
	b.WriteString(`SELECT ` + AuditColumns + ` FROM audit WHERE 1 = 1`)
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		b.WriteString(" AND " + cond + " ?")
	}
	if f.Actor != "" {
		add("actor =", f.Actor)
	}
	if f.Subject != "" {
		add("subject =", f.Subject)
	}
	if !f.Since.IsZero() {
		add("time >=", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("time <", f.Until.UnixNano())
	}
	if f.AfterSeq != 0 {
		add("seq >", f.AfterSeq)
	}
	if f.Desc && f.AfterSeq == 0 {
		b.WriteString(` ORDER BY seq DESC`)
	} else {
		b.WriteString(` ORDER BY seq`)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	b.WriteString(` LIMIT ?`)
	return collect(ctx, s.DB, scanAudit, b.String(), append(args, limit)...)
}

// AuditLog implements coffer.AuditReader: the whole log in seq order,
// 10,000 entries at a time, so verification runs in bounded memory.
func (s *Store) AuditLog(ctx context.Context) iter.Seq2[*coffer.AuditEntry, error] {
	return func(yield func(*coffer.AuditEntry, error) bool) {
		after := int64(math.MinInt64 / 2) // includes any seq, even a tampered negative one
		for {
			es, err := s.Audit(ctx, coffer.AuditFilter{AfterSeq: after, Limit: 10000})
			if err != nil {
				yield(nil, err)
				return
			}
			for _, e := range es {
				if !yield(e, nil) {
					return
				}
				after = e.Seq
			}
			if len(es) == 0 {
				return
			}
		}
	}
}

// AuditHead implements coffer.AuditReader. The log was never signed when
// audit_head has no row (SQLite), a row at seq 0 (PostgreSQL seeds one)
// or a row without a signature (a writer without a signer): ENOTFOUND in
// every case.
func (s *Store) AuditHead(ctx context.Context) (*coffer.AuditHead, error) {
	var h coffer.AuditHead
	err := s.DB.QueryRow(ctx, `SELECT seq, hash, signature FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash, &h.Signature)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (h.Seq == 0 || len(h.Signature) == 0) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "the audit log has no signed head")
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}
