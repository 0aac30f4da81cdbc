package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

type stmts struct {
	// insAudit[n] inserts n audit rows in one statement.
	insAudit map[int]*sql.Stmt
}

// auditChunks are the row counts of the multi-row audit inserts, largest
// first: one statement per chunk instead of one per entry.
var auditChunks = []int{128, 32, 8, 1}

const auditPlaceholders = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

type writer struct {
	conn     *sql.Conn
	tx       *connTx // the statements of sqlstore, prepared on first use
	st       stmts
	guard    *sqlstore.AuditGuard // the end of the log as this writer signed it
	maxBatch int

	chain audit.Chain

	nCommits, nChanges atomic.Int64 // committed transactions and the changes in them
	nTruncates         atomic.Int64 // truncating checkpoints run (erasures, final.go)

	finalWait time.Duration // see Options.FinalWait
	unfinal   bool          // an erasure's checkpoint did not complete: retry after each commit

	*sqlstore.Queue // Write: callers queue their writes
	stopped         chan struct{}
	tickStop        chan struct{} // stops the checkpoint timer
	ticked          chan struct{} // closed when it stopped

	// The syncer makes committed batches durable: the writer commits with
	// synchronous=NORMAL (frames written to the WAL, not fsync'd) and hands
	// the batch over; the syncer fsyncs the WAL and only then acknowledges.
	// So the next transaction runs while the previous one is being synced.
	wal      *os.File
	walPath  string
	synced   chan syncBatch
	ready    chan struct{} // the syncer's token: it is free to sync a commit
	syncDone chan struct{}
	broken   atomic.Pointer[coffer.Error] // set when an fsync failed: fail closed
}

func newWriter(ctx context.Context, db *sql.DB, path string, opts Options) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &writer{
		conn: conn,
		tx:   newConnTx(conn),
		guard: &sqlstore.AuditGuard{Signer: opts.Signer, Witness: opts.Witness, Every: opts.CheckpointEvery,
			Interval: opts.CheckpointInterval, Log: opts.Logger},
		maxBatch:  opts.MaxBatch,
		finalWait: opts.FinalWait,
		Queue:     sqlstore.NewQueue(opts.MaxBatch),
		stopped:   make(chan struct{}),
		walPath:   path + "-wal",
		synced:    make(chan syncBatch, 1),
		ready:     make(chan struct{}, 1),
		syncDone:  make(chan struct{}),
	}
	// Make sure the WAL file exists, then hold a descriptor to fsync it.
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA user_version = 0`); err != nil { // a no-op write opens the WAL
		conn.Close()
		return nil, err
	}
	if w.wal, err = os.OpenFile(w.walPath, os.O_RDWR, 0); err != nil {
		conn.Close()
		return nil, fmt.Errorf("open WAL for syncing: %w", err)
	}
	prep := func(dst **sql.Stmt, q string) {
		if err != nil {
			return
		}
		*dst, err = conn.PrepareContext(ctx, q)
	}
	w.st.insAudit = map[int]*sql.Stmt{}
	for _, n := range auditChunks {
		var st *sql.Stmt
		prep(&st, `INSERT INTO audit (`+sqlstore.AuditColumns+`) VALUES `+strings.TrimSuffix(strings.Repeat(auditPlaceholders+", ", n), ", "))
		w.st.insAudit[n] = st
	}
	if err == nil {
		err = w.start(ctx)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	go w.loop()
	go w.syncLoop()
	w.tickStop, w.ticked = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.ticked)
		sqlstore.Tick(w.tickStop, w.guard.Interval, w.Queue, w.guard)
	}()
	return w, nil
}

// start checks the log against its signed head (a mismatch leaves the
// guard broken: the store opens, and refuses every write) and writes the
// format checkpoint of a log opened for the first time by this version.
func (w *writer) start(ctx context.Context) error {
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	cp, err := w.guard.Start(ctx, w.tx)
	if err != nil {
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		if w.guard.Err() != nil {
			return nil
		}
		return err
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	if err := w.wal.Sync(); err != nil {
		return err
	}
	c, err := w.guard.Extend(ctx, w.tx)
	if err != nil {
		return err
	}
	w.guard.Committed(c, cp)
	w.guard.Witnessed(cp)
	return nil
}

// syncBatch is a committed batch and the checkpoint it holds, if any.
type syncBatch struct {
	ops []*sqlstore.Op
	cp  *audit.Checkpoint
	// finalErr answers the batch's final writes (erasures) when their
	// truncating checkpoint did not complete (final.go).
	finalErr error
}

func (w *writer) close() {
	close(w.tickStop)
	<-w.ticked
	w.Queue.Close()
	<-w.stopped
	<-w.syncDone
	w.wal.Close()
	w.conn.Close()
}

// syncLoop fsyncs the WAL once for every group of committed batches and
// acknowledges their changes.
func (w *writer) syncLoop() {
	defer close(w.syncDone)
	for {
		// Offer the writer the right to commit, then sync what it commits.
		select {
		case w.ready <- struct{}{}:
		case <-w.stopped:
			return
		}
		sb, ok := <-w.synced
		if !ok {
			return
		}
		err := w.syncWAL()
		if err == nil {
			w.guard.Witnessed(sb.cp) // only once the checkpoint is durable
		}
		for _, o := range sb.ops {
			switch {
			case err != nil:
				o.Done(err)
			case o.Failed == nil && o.Final && sb.finalErr != nil:
				o.Done(sb.finalErr)
			default:
				o.Done(o.Failed)
			}
		}
	}
}

// syncWAL fsyncs the WAL file. A failed fsync cannot be retried safely
// (the kernel may have dropped the dirty pages), so the store stops
// accepting writes.
func (w *writer) syncWAL() error {
	if e := w.broken.Load(); e != nil {
		return e
	}
	// SQLite keeps the WAL file (same inode) while connections are open;
	// check anyway, since syncing a stale descriptor would ack nothing.
	if fi, err := os.Stat(w.walPath); err == nil {
		if cur, err2 := w.wal.Stat(); err2 == nil && !os.SameFile(fi, cur) {
			if f, err := os.OpenFile(w.walPath, os.O_RDWR, 0); err == nil {
				w.wal.Close()
				w.wal = f
			}
		}
	}
	if err := w.wal.Sync(); err != nil {
		e := &coffer.Error{Code: coffer.EINTERNAL, Message: "storage failure", Err: fmt.Errorf("fsync WAL: %w", err)}
		w.broken.Store(e)
		return e
	}
	return nil
}

// loop applies changes to an open transaction as they arrive and commits
// it as soon as the syncer is free to make it durable, so that the batch
// grows for exactly as long as the previous fsync takes.
func (w *writer) loop() {
	defer close(w.stopped)
	defer close(w.synced)
	ctx := context.Background()
	var b batch
	ops := w.Ops()
	for ops != nil || len(b.ops) > 0 {
		var ready chan struct{}
		if len(b.ops) > 0 {
			ready = w.ready
		}
		select {
		case o, ok := <-ops:
			if !ok {
				ops = nil
				continue
			}
			w.add(ctx, &b, o)
		drain:
			for len(b.ops) < w.maxBatch {
				select {
				case o, ok := <-ops:
					if !ok {
						ops = nil
						break drain
					}
					w.add(ctx, &b, o)
				default:
					break drain
				}
			}
			if len(b.ops) >= w.maxBatch {
				<-w.ready
				w.commit(ctx, &b)
			}
		case <-ready:
			w.commit(ctx, &b)
		}
	}
}

// batch is the open transaction and the changes applied to it.
type batch struct {
	ops   []*sqlstore.Op
	open  bool
	saved audit.Chain          // the chain before the transaction began
	audit []*coffer.AuditEntry // linked, inserted at commit
}

// add applies o to the open transaction (beginning one if needed). When o
// fails with a domain error, the transaction is rolled back and replayed
// without o's change; o's audit entries stay, marked as errors. When the
// storage fails, every change of the batch fails.
func (w *writer) add(ctx context.Context, b *batch, o *sqlstore.Op) {
	b.ops = append(b.ops, o)
	if !b.open {
		if err := w.begin(ctx, b); err != nil {
			w.fail(ctx, b, err)
			return
		}
		if err := w.apply(ctx, b, o); err != nil {
			w.recover(ctx, b, o, err)
		}
		return
	}
	if err := w.apply(ctx, b, o); err != nil {
		w.recover(ctx, b, o, err)
	}
}

func (w *writer) begin(ctx context.Context, b *batch) error {
	if e := w.broken.Load(); e != nil {
		return e
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	// Continue the chain from where this writer signed it, under the
	// write lock, after checking that the stored tail is still there (an
	// administration command in another process may have appended).
	c, err := w.guard.Extend(ctx, w.tx)
	if err != nil {
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	w.chain = c
	b.open = true
	b.saved = w.chain
	b.audit = b.audit[:0]
	return nil
}

func (w *writer) recover(ctx context.Context, b *batch, o *sqlstore.Op, err error) {
	if coffer.ErrorCode(err) == coffer.EINTERNAL {
		w.fail(ctx, b, err)
		return
	}
	o.Failed = err
	// Roll back and replay: the changes before o succeed again, o now
	// contributes only its audit entries.
	w.rollback(ctx, b)
	if err := w.begin(ctx, b); err != nil {
		w.fail(ctx, b, err)
		return
	}
	for _, p := range b.ops {
		if err := w.apply(ctx, b, p); err != nil {
			w.fail(ctx, b, err) // cannot happen but for storage errors
			return
		}
	}
}

func (w *writer) rollback(ctx context.Context, b *batch) {
	if b.open {
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		b.open = false
		w.chain = b.saved
	}
}

// fail answers every change of the batch with a storage failure.
func (w *writer) fail(ctx context.Context, b *batch, err error) {
	w.rollback(ctx, b)
	var ce *coffer.Error
	if !errors.As(err, &ce) || ce.Code != coffer.EINTERNAL && ce.Code != coffer.EUNAVAILABLE {
		ce = &coffer.Error{Code: coffer.EINTERNAL, Message: "storage failure", Err: err}
	}
	for _, o := range b.ops {
		o.Done(ce)
	}
	b.ops = nil
}

// apply runs one change and links its audit entries into the chain; the
// entries are inserted at commit, in chain order.
func (w *writer) apply(ctx context.Context, b *batch, o *sqlstore.Op) error {
	if o.Failed == nil {
		if err := o.Run(ctx, w.tx); err != nil {
			return err
		}
	}
	now := time.Now().UTC() // audit entries are stamped at commit, in chain order
	for _, e := range o.Audit {
		if o.Failed != nil {
			e.Outcome = coffer.OutcomeError
			e.Reason = coffer.ErrorCode(o.Failed)
		}
		e.Time = now
		w.chain.Link(e)
		b.audit = append(b.audit, e)
	}
	return nil
}

// insertAudit writes the batch's audit entries with multi-row inserts.
func (w *writer) insertAudit(ctx context.Context, b *batch) error {
	rest := b.audit
	args := make([]any, 0, 16*auditChunks[0])
	for len(rest) > 0 {
		n := auditChunks[len(auditChunks)-1]
		for _, c := range auditChunks {
			if c <= len(rest) {
				n = c
				break
			}
		}
		args = args[:0]
		for _, e := range rest[:n] {
			args = append(args, sqlstore.AuditArgs(e)...)
		}
		if _, err := w.st.insAudit[n].ExecContext(ctx, args...); err != nil {
			return err
		}
		rest = rest[n:]
	}
	b.audit = b.audit[:0]
	return nil
}

// commit signs the new head of the audit log, commits (without fsync) and
// hands the batch to the syncer. The caller holds the syncer's ready token.
func (w *writer) commit(ctx context.Context, b *batch) {
	if !b.open { // everything failed already: give the unused token back
		b.ops = nil
		w.ready <- struct{}{}
		return
	}
	if err := w.insertAudit(ctx, b); err != nil {
		w.fail(ctx, b, err)
		w.ready <- struct{}{} // give the unused token back
		return
	}
	cp, err := w.guard.Seal(ctx, w.tx, b.saved, w.chain, time.Now().UTC())
	if err != nil {
		w.fail(ctx, b, err)
		w.ready <- struct{}{} // give the unused token back
		return
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		w.fail(ctx, b, err)
		w.ready <- struct{}{}
		return
	}
	b.open = false
	w.guard.Committed(w.chain, cp)
	for _, o := range b.ops {
		if o.Failed == nil && o.Committed != nil {
			o.Committed()
		}
	}
	w.nCommits.Add(1)
	w.nChanges.Add(int64(len(b.ops)))
	finalErr := w.finalize(ctx, b.ops) // erasures: before anyone is answered
	w.synced <- syncBatch{ops: b.ops, cp: cp, finalErr: finalErr}
	b.ops = nil
}
