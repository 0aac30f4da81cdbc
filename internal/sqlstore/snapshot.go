package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
)

// Sink receives a logical copy of the store, table by table and row by
// row (internal/backup's Writer is one).
type Sink interface {
	Table(name string, columns ...string) error
	Row(values ...any) error
}

// SnapshotTx is one read transaction an adapter opens for a snapshot:
// every query sees the same state of the database (SQLite: a read
// transaction under WAL; PostgreSQL: REPEATABLE READ READ ONLY).
type SnapshotTx interface {
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	// Tables lists Coffer's tables, the migration bookkeeping excluded,
	// sorted by name.
	Tables(ctx context.Context) ([]string, error)
	// Columns lists a table's columns in their declared order.
	Columns(ctx context.Context, table string) ([]string, error)
}

// SnapshotHead is the end of the audit chain as of a snapshot (Seq 0: an
// empty log).
type SnapshotHead struct {
	Seq  int64
	Hash []byte
}

// PageSource is a snapshot that can copy its database page by page
// (SQLite's sqlite_dbpage, read in the snapshot's transaction): the image
// a backup of SQLite holds.
type PageSource interface {
	// Pages calls start with the page size and count, then data with the
	// pages' bytes in order, in runs of whole pages (valid until the next
	// call).
	Pages(ctx context.Context, start func(pageSize int, pages int64) error, data func([]byte) error) error
}

// ImageSink receives a page image (internal/backup's Writer is one).
type ImageSink interface {
	Image(pageSize int, pages int64, counts map[string]int64) error
	Data(b []byte) error
}

// DumpImage copies tx's database page by page into sink with the row
// counts of its tables, and returns the audit head the copy holds; like
// Dump it reads the head first.
func DumpImage(ctx context.Context, tx SnapshotTx, src PageSource, sink ImageSink) (SnapshotHead, error) {
	h, err := snapshotHead(ctx, tx)
	if err != nil {
		return h, err
	}
	counts, err := TableCounts(ctx, tx)
	if err != nil {
		return h, err
	}
	err = src.Pages(ctx, func(size int, pages int64) error { return sink.Image(size, pages, counts) }, sink.Data)
	return h, err
}

// TableCounts counts the rows of every table of tx.
func TableCounts(ctx context.Context, tx SnapshotTx) (map[string]int64, error) {
	tables, err := tx.Tables(ctx)
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int64, len(tables))
	for _, t := range tables {
		rs, err := tx.Query(ctx, `SELECT count(*) FROM `+quote(t))
		if err != nil {
			return nil, err
		}
		var n int64
		if rs.Next() {
			err = rs.Scan(&n)
		}
		err = errors.Join(err, rs.Err())
		rs.Close()
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", t, err)
		}
		counts[t] = n
	}
	return counts, nil
}

func snapshotHead(ctx context.Context, tx SnapshotTx) (SnapshotHead, error) {
	var h SnapshotHead
	rs, err := tx.Query(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return h, err
	}
	if rs.Next() {
		err = rs.Scan(&h.Seq, &h.Hash)
	}
	err = errors.Join(err, rs.Err())
	rs.Close()
	return h, err
}

// Dump copies every table of tx into sink, one row at a time (bounded
// memory), and returns the audit head the copy holds. It reads the head
// first, so the transaction's snapshot is taken before any table is read.
func Dump(ctx context.Context, tx SnapshotTx, sink Sink) (SnapshotHead, error) {
	h, err := snapshotHead(ctx, tx)
	if err != nil {
		return h, err
	}
	tables, err := tx.Tables(ctx)
	if err != nil {
		return h, err
	}
	for _, t := range tables {
		cols, err := tx.Columns(ctx, t)
		if err != nil {
			return h, err
		}
		if err := dumpTable(ctx, tx, sink, t, cols); err != nil {
			return h, fmt.Errorf("table %s: %w", t, err)
		}
	}
	return h, nil
}

func dumpTable(ctx context.Context, tx SnapshotTx, sink Sink, table string, cols []string) error {
	if err := sink.Table(table, cols...); err != nil {
		return err
	}
	rs, err := tx.Query(ctx, `SELECT `+quoteList(cols)+` FROM `+quote(table))
	if err != nil {
		return err
	}
	defer rs.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rs.Next() {
		clear(vals)
		if err := rs.Scan(ptrs...); err != nil {
			return err
		}
		if err := sink.Row(vals...); err != nil {
			return err
		}
	}
	return rs.Err()
}

// quote quotes an identifier (both dialects use double quotes).
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func quoteList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quote(c)
	}
	return strings.Join(q, ", ")
}

// LoadTx is a restore's transaction on an empty, migrated store.
type LoadTx interface {
	Tx
	Query(ctx context.Context, q string, args ...any) (Rows, error)
}

// Loader inserts a logical copy into a LoadTx, table by table. A table the
// target does not have fails the load (a backup of a newer Coffer).
type Loader struct {
	Tx     LoadTx
	table  string
	insert string
}

// Table starts a table: what the migrations put in it is removed first
// (PostgreSQL seeds audit_head), so the table holds the backup's rows only.
func (l *Loader) Table(ctx context.Context, name string, columns []string) error {
	if _, err := l.Tx.Exec(ctx, `DELETE FROM `+quote(name)); err != nil {
		return fmt.Errorf("the backup holds a table %s this Coffer does not have (a newer version wrote it?): %w", name, err)
	}
	l.table = name
	l.insert = `INSERT INTO ` + quote(name) + ` (` + quoteList(columns) + `) VALUES ` + params(len(columns))
	return nil
}

// Row inserts one row of the current table.
func (l *Loader) Row(ctx context.Context, values []any) error {
	if _, err := l.Tx.Exec(ctx, l.insert, values...); err != nil {
		return fmt.Errorf("table %s: %w", l.table, err)
	}
	return nil
}

// Subjects lists every subject id the store mentions in the places an
// erasure clears (subjects, records, tokens, consents).
func Subjects(ctx context.Context, tx LoadTx) ([]string, error) {
	rs, err := tx.Query(ctx, `SELECT id FROM subjects UNION SELECT subject FROM records
		UNION SELECT subject FROM tokens WHERE subject <> '' UNION SELECT subject FROM consent_events`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rs.Err()
}

// EraseAgain removes a subject erased after a backup was taken from the
// restored copy: its records and their blind-index entries, its tokens,
// consents and wrapped DEK; the ledger keeps its hash (under derived-key
// root version). The audit log keeps its entries (the chain cannot lose
// them), as it does on a live erasure.
func EraseAgain(ctx context.Context, tx LoadTx, subject string, e coffer.LedgerEntry) error {
	for _, q := range []string{
		`DELETE FROM blind_index WHERE record IN (SELECT id FROM records WHERE subject = ?)`,
		`DELETE FROM records WHERE subject = ?`,
		`DELETE FROM consent_events WHERE subject = ?`,
		`DELETE FROM tokens WHERE subject = ?`,
		`DELETE FROM subjects WHERE id = ?`,
	} {
		if _, err := tx.Exec(ctx, q, subject); err != nil {
			return err
		}
	}
	return AddLedger(ctx, tx, e)
}

// AddLedger records a ledger entry, with its version, in the restored
// store.
func AddLedger(ctx context.Context, tx LoadTx, e coffer.LedgerEntry) error {
	if e.Version == 0 {
		return coffer.Errorf(coffer.EINVALID, "ledger entry: no derived-key root version")
	}
	_, err := tx.Exec(ctx, `INSERT INTO erasure_ledger (hash, key_version, erased_at) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
		e.Hash, int64(e.Version), e.ErasedAt.UnixNano())
	return err
}

// AuditLogTx is the whole audit log in seq order as tx sees it (a restore
// checks the chain before it commits).
func AuditLogTx(ctx context.Context, tx LoadTx) iter.Seq2[*coffer.AuditEntry, error] {
	return func(yield func(*coffer.AuditEntry, error) bool) {
		rs, err := tx.Query(ctx, `SELECT `+AuditColumns+` FROM audit ORDER BY seq`)
		if err != nil {
			yield(nil, err)
			return
		}
		defer rs.Close()
		for rs.Next() {
			e, err := scanAudit(rs)
			if !yield(e, err) || err != nil {
				return
			}
		}
		if err := rs.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// RestoreCheckpoint stores, in a restore's transaction, the signed
// KindRestore checkpoint of the loaded log's head (the backup's). Its
// counter follows the loaded checkpoints' and after (the last counter of
// the witness it goes to: a witness's counters only grow), so the restored
// store's next checkpoints follow it in the witness too.
func RestoreCheckpoint(ctx context.Context, tx LoadTx, signer *audit.Signer, after uint64, now time.Time) (*audit.Checkpoint, error) {
	head, err := AuditHeadTx(ctx, tx)
	if err != nil {
		return nil, err
	}
	return writeCheckpoint(ctx, tx, signer.Current(), audit.KindRestore, audit.Chain{Seq: head.Seq, Last: head.Hash}, now, after)
}

// AuditHeadTx is Store.AuditHead as tx sees it: ENOTFOUND when the log
// was never signed.
func AuditHeadTx(ctx context.Context, tx LoadTx) (*coffer.AuditHead, error) {
	rs, err := tx.Query(ctx, `SELECT seq, hash, signature FROM audit_head WHERE id = 1`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var h coffer.AuditHead
	if rs.Next() {
		if err := rs.Scan(&h.Seq, &h.Hash, &h.Signature); err != nil {
			return nil, err
		}
	} else if err := rs.Err(); err != nil {
		return nil, err
	}
	if h.Seq == 0 || len(h.Signature) == 0 {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "the audit log has no signed head")
	}
	return &h, nil
}
