// Package postgres is coffer.Store on PostgreSQL (pgx), for running many
// stateless coffer nodes on one database.
//
// Each node has one writer goroutine that group-commits: the changes queued
// while the previous transaction was committing go into the next one, then
// their audit entries. The chain is extended under a row lock on
// audit_head, taken as the last step before COMMIT, so that every node
// appends to one sequence and the lock is held briefly. A change that fails
// with a domain error is rolled back and the batch replayed without it; its
// audit entries stay, marked as errors. PostgreSQL's commit (with
// synchronous_commit on, the default) makes the batch durable before any
// caller is answered.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/rowcodec"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ coffer.Store = (*Store)(nil)

// Store is coffer.Store on PostgreSQL.
type Store struct {
	pool   *pgxpool.Pool
	signer *audit.Signer

	mu      sync.RWMutex // guards closed against sends on a closed ops
	closed  bool
	ops     chan *op
	stopped chan struct{}
}

// op is one queued write and the audit entries recording it.
type op struct {
	apply  func(context.Context, pgx.Tx) error // nil: audit entries only
	audit  []*coffer.AuditEntry
	failed error
	done   chan error
}

const maxBatch = 256

// Open connects to dsn, migrates the schema and returns the store. signer
// signs the audit head (nil: unsigned).
func Open(ctx context.Context, dsn string, signer *audit.Signer) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad DSN: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err == nil {
		var p *goose.Provider
		if p, err = goose.NewProvider(goose.DialectPostgres, db, sub); err == nil {
			_, err = p.Up(ctx)
		}
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	s := &Store{pool: pool, signer: signer, ops: make(chan *op, maxBatch), stopped: make(chan struct{})}
	go s.loop()
	return s, nil
}

// Close commits what is queued and closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.ops)
	}
	s.mu.Unlock()
	<-s.stopped
	s.pool.Close()
	return nil
}

func (s *Store) loop() {
	defer close(s.stopped)
	for o := range s.ops {
		batch := append(make([]*op, 0, 32), o)
	fill:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs a batch in one transaction, replaying it without any change
// that fails with a domain error.
func (s *Store) commit(batch []*op) {
	ctx := context.Background()
	for {
		var failedOp *op
		err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			var entries []*coffer.AuditEntry
			for _, o := range batch {
				if o.apply != nil && o.failed == nil {
					if err := o.apply(ctx, tx); err != nil {
						if coffer.ErrorCode(err) != coffer.EINTERNAL {
							failedOp = o
						}
						return err
					}
				}
				for _, e := range o.audit {
					if o.failed != nil {
						e.Outcome, e.Reason = coffer.OutcomeError, coffer.ErrorCode(o.failed)
					}
				}
				entries = append(entries, o.audit...)
			}
			return s.appendAudit(ctx, tx, entries)
		})
		if failedOp != nil {
			failedOp.failed = err
			continue
		}
		if err != nil {
			err = &coffer.Error{Code: coffer.EINTERNAL, Message: "storage failure", Err: err}
		}
		for _, o := range batch {
			if err != nil {
				o.done <- err
			} else {
				o.done <- o.failed
			}
		}
		return
	}
}

// Commit implements coffer.Store.
func (s *Store) Commit(ctx context.Context, ch *coffer.Change) error {
	return s.write(ctx, ch.Audit, func(ctx context.Context, tx pgx.Tx) error { return applyChange(ctx, tx, ch) })
}

// AppendAudit implements coffer.Store.
func (s *Store) AppendAudit(ctx context.Context, entries ...*coffer.AuditEntry) error {
	return s.write(ctx, entries, nil)
}

// write queues apply and its audit entries for the writer and waits until
// they are durable, or failed.
func (s *Store) write(ctx context.Context, entries []*coffer.AuditEntry, apply func(context.Context, pgx.Tx) error) error {
	o := &op{apply: apply, audit: entries, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return &coffer.Error{Code: coffer.EINTERNAL, Message: "store is closed"}
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // the change may still commit
	}
}

func (s *Store) tx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := fn(ctx, tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// appendAudit links entries to the chain under the head's row lock and
// inserts them with the new signed head.
func (s *Store) appendAudit(ctx context.Context, tx pgx.Tx, entries []*coffer.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var c audit.Chain
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&c.Seq, &c.Last); err != nil {
		return err
	}
	now := time.Now().UTC()
	rows := make([][]any, 0, len(entries))
	for _, e := range entries {
		e.Time = now
		c.Link(e)
		rows = append(rows, rowcodec.AuditArgs(e))
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit"}, strings.Split(rowcodec.AuditColumns, ", "), pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	var sig []byte
	if s.signer != nil {
		sig = s.signer.Sign(c.Seq, c.Last).Signature
	}
	_, err := tx.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2, signature = $3 WHERE id = 1`, c.Seq, c.Last, sig)
	return err
}

func applyChange(ctx context.Context, tx pgx.Tx, ch *coffer.Change) error {
	for _, sub := range ch.NewSubjects {
		tag, err := tx.Exec(ctx, `INSERT INTO subjects (id, dek, kek_version, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
			sub.ID, sub.WrappedDEK, int64(sub.KEKVersion), sub.CreatedAt.UnixNano())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "subject already exists")
		}
	}
	for _, r := range ch.Creates {
		tag, err := tx.Exec(ctx, `INSERT INTO records (id, collection, subject, fields, idx, version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 1, $6, $7) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.Collection, r.Subject, rowcodec.EncodeFields(r.Fields), rowcodec.EncodeIndex(r.Index), r.CreatedAt.UnixNano(), r.UpdatedAt.UnixNano())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "record id already exists")
		}
		if err := insertIndex(ctx, tx, r.Collection, r.ID, r.Index); err != nil {
			return err
		}
	}
	for _, r := range ch.Updates {
		var old []byte
		err := tx.QueryRow(ctx, `SELECT idx FROM records WHERE id = $1 AND collection = $2 AND version = $3 FOR UPDATE`, r.ID, r.Collection, r.Version).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return coffer.Errorf(coffer.ECONFLICT, "record changed or was deleted concurrently")
		}
		if err != nil {
			return err
		}
		if err := deleteIndex(ctx, tx, r.Collection, r.ID, old); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE records SET fields = $1, idx = $2, version = version + 1, updated_at = $3 WHERE id = $4`,
			rowcodec.EncodeFields(r.Fields), rowcodec.EncodeIndex(r.Index), r.UpdatedAt.UnixNano(), r.ID); err != nil {
			return err
		}
		if err := insertIndex(ctx, tx, r.Collection, r.ID, r.Index); err != nil {
			return err
		}
	}
	for _, ref := range ch.Deletes {
		var old []byte
		err := tx.QueryRow(ctx, `DELETE FROM records WHERE id = $1 AND collection = $2 RETURNING idx`, ref.ID, ref.Collection).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return coffer.Errorf(coffer.ENOTFOUND, "record not found")
		}
		if err != nil {
			return err
		}
		if err := deleteIndex(ctx, tx, ref.Collection, ref.ID, old); err != nil {
			return err
		}
	}
	return rowcodec.ApplyPrivacy(ctx, privTx{tx}, ch)
}

func insertIndex(ctx context.Context, tx pgx.Tx, collection, id string, index []coffer.IndexEntry) error {
	for _, ix := range index {
		if _, err := tx.Exec(ctx, `INSERT INTO blind_index (collection, field, hash, record) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			collection, ix.Field, ix.Hash, id); err != nil {
			return err
		}
	}
	return nil
}

func deleteIndex(ctx context.Context, tx pgx.Tx, collection, id string, encoded []byte) error {
	index, err := rowcodec.DecodeIndex(encoded)
	if err != nil {
		return fmt.Errorf("record %s: %w", id, err)
	}
	for _, ix := range index {
		if _, err := tx.Exec(ctx, `DELETE FROM blind_index WHERE collection = $1 AND field = $2 AND hash = $3 AND record = $4`,
			collection, ix.Field, ix.Hash, id); err != nil {
			return err
		}
	}
	return nil
}

// Record implements coffer.Store.
func (s *Store) Record(ctx context.Context, collection, id string) (*coffer.StoredRecord, error) {
	r, err := rowcodec.ScanRecord(s.pool.QueryRow(ctx, `SELECT `+rowcodec.RecordColumns+` FROM records WHERE id = $1 AND collection = $2`, id, collection))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "record not found")
	}
	return r, err
}

// FindRecords implements coffer.Store.
func (s *Store) FindRecords(ctx context.Context, collection, field string, hash []byte, limit int) ([]*coffer.StoredRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.collection, r.subject, r.fields, r.version, r.created_at, r.updated_at
		FROM blind_index b JOIN records r ON r.id = b.record
		WHERE b.collection = $1 AND b.field = $2 AND b.hash = $3 ORDER BY r.id LIMIT $4`, collection, field, hash, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanRecord)
}

// Subject implements coffer.Store.
func (s *Store) Subject(ctx context.Context, id string) (*coffer.Subject, error) {
	sub, err := rowcodec.ScanSubject(s.pool.QueryRow(ctx, `SELECT `+rowcodec.SubjectColumns+` FROM subjects WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "subject not found")
	}
	return sub, err
}

// Audit implements coffer.Store.
func (s *Store) Audit(ctx context.Context, f coffer.AuditFilter) ([]*coffer.AuditEntry, error) {
	q, args := rowcodec.AuditQuery(f, func(n int) string { return "$" + strconv.Itoa(n) })
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanAudit)
}

// AuditLog implements coffer.Store.
func (s *Store) AuditLog(ctx context.Context) iter.Seq2[*coffer.AuditEntry, error] {
	return rowcodec.AuditPages(ctx, s.Audit)
}

// AuditHead implements coffer.Store.
func (s *Store) AuditHead(ctx context.Context) (*coffer.AuditHead, error) {
	var h coffer.AuditHead
	if err := s.pool.QueryRow(ctx, `SELECT seq, hash, signature FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash, &h.Signature); err != nil {
		return nil, err
	}
	if h.Seq == 0 {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "the audit log has no signed head")
	}
	return &h, nil
}

func one(e *coffer.AuditEntry) []*coffer.AuditEntry {
	if e == nil {
		return nil
	}
	return []*coffer.AuditEntry{e}
}

// CreateAPIKey implements coffer.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *coffer.APIKey, e *coffer.AuditEntry) error {
	return s.write(ctx, one(e), func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO api_keys (id, name, role, hash, allowed_cidrs, created_at, expires_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 0) ON CONFLICT (id) DO NOTHING`,
			k.ID, k.Name, k.Role, k.Hash, strings.Join(k.AllowedCIDRs, ","), rowcodec.Nanos(k.CreatedAt), rowcodec.Nanos(k.ExpiresAt))
		if err == nil && tag.RowsAffected() == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "api key id already exists")
		}
		return err
	})
}

// TouchAPIKeys implements coffer.Store.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	return s.write(ctx, nil, func(ctx context.Context, tx pgx.Tx) error {
		for id, at := range used {
			if _, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = GREATEST(last_used_at, $1) WHERE id = $2`, at.UnixNano(), id); err != nil {
				return err
			}
		}
		return nil
	})
}

// RevokeAPIKey implements coffer.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, e *coffer.AuditEntry) error {
	return s.write(ctx, one(e), func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0`, time.Now().UnixNano(), id)
		if err == nil && tag.RowsAffected() == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "api key not found or already revoked")
		}
		return err
	})
}

// APIKey implements coffer.Store.
func (s *Store) APIKey(ctx context.Context, id string) (*coffer.APIKey, error) {
	k, err := rowcodec.ScanKey(s.pool.QueryRow(ctx, `SELECT `+rowcodec.KeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "api key not found")
	}
	return k, err
}

// APIKeys implements coffer.Store.
func (s *Store) APIKeys(ctx context.Context) ([]*coffer.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rowcodec.KeyColumns+` FROM api_keys ORDER BY created_at DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanKey)
}

// SaveSchema implements coffer.Store.
func (s *Store) SaveSchema(ctx context.Context, doc []byte, e *coffer.AuditEntry) error {
	return s.write(ctx, one(e), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO schema_doc (id, doc, updated_at) VALUES (1, $1, $2)
			ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`, doc, time.Now().UnixNano())
		return err
	})
}

// Schema implements coffer.Store.
func (s *Store) Schema(ctx context.Context) ([]byte, error) {
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT doc FROM schema_doc WHERE id = 1`).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "no schema stored")
	}
	return doc, err
}

// SubjectsBelow implements coffer.Store.
func (s *Store) SubjectsBelow(ctx context.Context, version uint32, afterID string, limit int) ([]*coffer.Subject, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rowcodec.SubjectColumns+` FROM subjects WHERE kek_version < $1 AND id > $2 ORDER BY id LIMIT $3`,
		int64(version), afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowcodec.Collect(rows, rowcodec.ScanSubject)
}

// Rewrap implements coffer.Store.
func (s *Store) Rewrap(ctx context.Context, rewraps []coffer.Rewrap, e *coffer.AuditEntry) (int, error) {
	var n int
	err := s.write(ctx, one(e), func(ctx context.Context, tx pgx.Tx) error {
		n = 0
		for _, r := range rewraps {
			tag, err := tx.Exec(ctx, `UPDATE subjects SET dek = $1, kek_version = $2 WHERE id = $3 AND kek_version = $4`,
				r.WrappedDEK, int64(r.KEKVersion), r.Subject, int64(r.OldVersion))
			if err != nil {
				return err
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	return n, err
}

// KEKVersions implements coffer.Store.
func (s *Store) KEKVersions(ctx context.Context) (map[uint32]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT kek_version, count(*) FROM subjects GROUP BY kek_version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uint32]int64{}
	for rows.Next() {
		var v, n int64
		if err := rows.Scan(&v, &n); err != nil {
			return nil, err
		}
		out[uint32(v)] = n
	}
	return out, rows.Err()
}
