package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// Finding records: search by blind index (per derived version), pages of
// expired records, and the re-index pages.

// FindRecords implements coffer.RecordReader. Record ids are time-ordered,
// so ordering by id is oldest first.
func (s *Store) FindRecords(ctx context.Context, q coffer.RecordQuery) ([]*coffer.StoredRecord, error) {
	return FindByVersion(ctx, q, func(ctx context.Context, q coffer.RecordQuery) ([]*coffer.StoredRecord, error) {
		query, args := FindQuery(`r.id, r.collection, r.subject, r.fields, r.version, r.created_at, r.updated_at`, q)
		recs, err := collect(ctx, s.DB, scanRecord, query, args...)
		return recs[:min(len(recs), max(q.Limit, 0))], err
	})
}

// FindByVersion answers q with find, one derived version at a time when q
// has Older versions (a re-index under way): the oldest first, the
// current one last, the answers merged in id order without duplicates and
// cut to q.Limit. A record's index version only ever goes up (a re-index,
// an update), so a record that left a version before its query ran is
// found by a later one: no search misses it. (One statement that asks
// every version at once was planned by SQLite as a walk of the records in
// id order: 100 ms a search at 20,000 records.)
func FindByVersion(ctx context.Context, q coffer.RecordQuery, find func(context.Context, coffer.RecordQuery) ([]*coffer.StoredRecord, error)) ([]*coffer.StoredRecord, error) {
	if len(q.Older) == 0 {
		return find(ctx, q)
	}
	versions := append(slices.Clone(q.Older), coffer.IndexedWhere{Version: max(q.IndexVersion, 1), Where: q.Where})
	slices.SortStableFunc(versions, func(a, b coffer.IndexedWhere) int { return cmp.Compare(a.Version, b.Version) })
	seen := map[string]bool{}
	var out []*coffer.StoredRecord
	for _, iw := range versions {
		one := q
		one.Where, one.IndexVersion, one.Older = iw.Where, iw.Version, nil
		recs, err := find(ctx, one)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b *coffer.StoredRecord) int { return strings.Compare(a.ID, b.ID) })
	return out[:min(len(out), max(q.Limit, 0))], nil
}

// FindQuery returns the statement selecting columns of the records q
// selects under q.IndexVersion (q.Older is FindByVersion's), and its
// arguments: one join on the blind index per where entry, the record's
// index version, the subject's restriction and the retention bound, all
// before LIMIT. A store that reads records through a cache selects r.id
// only.
//
// The LIMIT is a literal, q.Limit rounded up to a power of two, and the
// caller keeps the first q.Limit rows: SQLite re-prepares a statement
// whose LIMIT is a bound parameter on every execution (the planner uses
// its value), which cost more than the search itself; the rounding keeps
// the cached statements few.
func FindQuery(columns string, q coffer.RecordQuery) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 3*len(q.Where)+6)
	b.WriteString(`SELECT ` + columns + ` FROM records r`)
	for i, w := range q.Where {
		t := "b" + strconv.Itoa(i)
		b.WriteString(` JOIN blind_index ` + t + ` ON ` + t + `.record = r.id AND ` + t + `.collection = ? AND ` + t + `.field = ? AND ` + t + `.hash = ?`)
		args = append(args, q.Collection, w.Field, w.Hash)
	}
	if q.Unrestricted {
		b.WriteString(` JOIN subjects s ON s.id = r.subject AND s.restricted = 0`)
	}
	// The unary plus keeps SQLite's planner off records_idx_version (all
	// records share one version, a scan of them all): the blind index
	// finds the few candidates.
	b.WriteString(` WHERE r.collection = ? AND r.id > ? AND +r.idx_version = ?`)
	args = append(args, q.Collection, q.After, int64(max(q.IndexVersion, 1)))
	if !q.UpdatedSince.IsZero() {
		b.WriteString(` AND r.updated_at >= ?`)
		args = append(args, q.UpdatedSince.UnixNano())
	}
	b.WriteString(` ORDER BY r.id LIMIT ` + strconv.Itoa(limitBucket(q.Limit)))
	return b.String(), args
}

// limitBucket is n rounded up to a power of two (at least 1).
func limitBucket(n int) int {
	b := 1
	for b < n {
		b <<= 1
	}
	return b
}

// ExpiredRecords implements coffer.RecordReader.
func (s *Store) ExpiredRecords(ctx context.Context, collection string, cutoff, afterUpdated time.Time, afterID string, limit int) ([]*coffer.StoredRecord, error) {
	return collect(ctx, s.DB, scanExpired, expiredQuery, collection, cutoff.UnixNano(), nanos(afterUpdated), nanos(afterUpdated), afterID, limit)
}

// expiredQuery pages through a collection by (updated_at, id) after a
// cursor. The cursor's time is also a plain lower bound (updated_at >= ?):
// with bound parameters SQLite does not take one from the OR alone, and
// every page then scanned the collection from its start (a purge or sweep
// of n records took O(n²): 20-record pages of a 40,000-record purge took
// 36 ms each by the end).
const expiredQuery = `SELECT ` + recordColumns + `, idx, idx_version FROM records
		WHERE collection = ? AND updated_at < ? AND updated_at >= ? AND (updated_at > ? OR id > ?) ORDER BY updated_at, id LIMIT ?`

// IndexVersions implements coffer.IndexStore.
func (s *Store) IndexVersions(ctx context.Context) (map[uint32]int64, error) {
	return s.countVersions(ctx, `SELECT idx_version, count(*) FROM records GROUP BY idx_version`)
}

// RecordsIndexedBelow implements coffer.IndexStore. It walks the primary
// key from afterID (the unary plus keeps SQLite off records_idx_version,
// whose range below a new version is every record, sorted again for each
// page).
func (s *Store) RecordsIndexedBelow(ctx context.Context, version uint32, afterID string, limit int) ([]*coffer.StoredRecord, error) {
	return collect(ctx, s.DB, scanExpired, `SELECT `+recordColumns+`, idx, idx_version FROM records
		WHERE +idx_version < ? AND id > ? ORDER BY id LIMIT ?`, int64(version), afterID, limit)
}

// Reindex implements coffer.IndexStore: the record row first (only at
// the version read and below the new index version), then its old
// entries out and the new ones in.
func (s *Store) Reindex(ctx context.Context, rs []coffer.Reindex, e *coffer.AuditEntry) (int, error) {
	var n int
	err := s.write(ctx, &Write{Audit: one(e), Apply: func(ctx context.Context, tx Tx) error {
		n = 0
		for _, r := range rs {
			var old []byte
			err := tx.QueryRow(ctx, `SELECT idx FROM records WHERE id = ? AND collection = ? AND version = ? AND idx_version < ?`,
				r.Record, r.Collection, r.Version, int64(r.IndexVersion)).Scan(&old)
			if errors.Is(err, sql.ErrNoRows) {
				continue // changed, deleted or re-indexed since it was read
			}
			if err != nil {
				return err
			}
			c, err := tx.Exec(ctx, `UPDATE records SET idx = ?, idx_version = ? WHERE id = ? AND collection = ? AND version = ? AND idx_version < ?`,
				encodeIndex(r.Index), int64(r.IndexVersion), r.Record, r.Collection, r.Version, int64(r.IndexVersion))
			if err != nil {
				return err
			}
			if c == 0 {
				continue
			}
			if err := deleteIndex(ctx, tx, r.Collection, r.Record, old); err != nil {
				return err
			}
			if err := insertIndex(ctx, tx, r.Collection, r.Record, r.Index); err != nil {
				return err
			}
			n++
		}
		return nil
	}})
	if err != nil {
		return 0, err // ctx ended: the writer may still be applying it, n is its own
	}
	return n, nil
}
