package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

const maxBatch = 256

// writer is the node's one writer goroutine.
type writer struct {
	pool  *pgxpool.Pool
	guard *sqlstore.AuditGuard // the end of the log as this node signed it

	*sqlstore.Queue // Write: callers queue their writes
	stopped         chan struct{}
	tickStop        chan struct{} // stops the checkpoint timer
	ticked          chan struct{} // closed when it stopped
	closeOnce       sync.Once
}

func newWriter(ctx context.Context, pool *pgxpool.Pool, o Options) (*writer, error) {
	w := &writer{pool: pool, Queue: sqlstore.NewQueue(maxBatch), stopped: make(chan struct{}),
		tickStop: make(chan struct{}), ticked: make(chan struct{}),
		guard: &sqlstore.AuditGuard{Signer: o.Signer, Witness: o.Witness, Every: o.CheckpointEvery, Interval: o.CheckpointInterval,
			Log: o.Logger, Lock: " FOR UPDATE"}}
	// Check the log against its signed head; a mismatch leaves the guard
	// broken (every write refused), anything else fails the open.
	var cp *audit.Checkpoint
	var c audit.Chain
	err := w.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if cp, err = w.guard.Start(ctx, pgTx{tx}); err != nil {
			return err
		}
		c, err = w.guard.Extend(ctx, pgTx{tx})
		return err
	})
	switch {
	case err == nil:
		w.guard.Committed(c, cp)
		w.guard.Witnessed(cp)
	case w.guard.Err() == nil:
		return nil, err
	}
	go w.loop()
	go func() {
		defer close(w.ticked)
		sqlstore.Tick(w.tickStop, w.guard.Interval, w.Queue, w.guard)
	}()
	return w, nil
}

// close commits what is queued and stops the writer.
func (w *writer) close() {
	w.closeOnce.Do(func() {
		close(w.tickStop)
		<-w.ticked
		w.Queue.Close()
		<-w.stopped
	})
}

func (w *writer) loop() {
	defer close(w.stopped)
	for o := range w.Ops() {
		batch := append(make([]*sqlstore.Op, 0, 32), o)
	fill:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-w.Ops():
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		w.commit(batch)
	}
}

// commit runs a batch in one transaction, replaying it without any change
// that fails with a domain error.
func (w *writer) commit(batch []*sqlstore.Op) {
	ctx := context.Background()
	tick := false
	for _, o := range batch {
		tick = tick || o.Apply == nil && len(o.Audit) == 0
	}
	for {
		var failedOp *sqlstore.Op
		var sealed *sealedChain
		err := w.guard.Err()
		if err == nil {
			err = w.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				var entries []*coffer.AuditEntry
				for _, o := range batch {
					if o.Failed == nil {
						if err := o.Run(ctx, pgTx{tx}); err != nil {
							if coffer.ErrorCode(err) != coffer.EINTERNAL {
								failedOp = o
							}
							return err
						}
					}
					for _, e := range o.Audit {
						if o.Failed != nil {
							e.Outcome, e.Reason = coffer.OutcomeError, coffer.ErrorCode(o.Failed)
						}
					}
					entries = append(entries, o.Audit...)
				}
				var err error
				sealed, err = w.appendAudit(ctx, tx, entries, tick)
				return err
			})
		}
		if failedOp != nil {
			failedOp.Failed = err
			continue
		}
		if err != nil {
			err = unavailable(err)
			var ce *coffer.Error
			if !errors.As(err, &ce) || ce.Code != coffer.EINTERNAL && ce.Code != coffer.EUNAVAILABLE {
				err = &coffer.Error{Code: coffer.EINTERNAL, Message: "storage failure", Err: err}
			}
		} else {
			if sealed != nil {
				w.guard.Committed(sealed.c, sealed.cp)
				w.guard.Witnessed(sealed.cp)
			}
			for _, o := range batch {
				if o.Failed == nil && o.Committed != nil {
					o.Committed()
				}
			}
		}
		for _, o := range batch {
			if err != nil {
				o.Done(err)
			} else {
				o.Done(o.Failed)
			}
		}
		return
	}
}

func (w *writer) tx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := fn(ctx, tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// sealedChain is where a committed transaction left the log.
type sealedChain struct {
	c  audit.Chain
	cp *audit.Checkpoint
}

// appendAudit links entries to the chain under the head's row lock, after
// the guard checked the stored tail, and inserts them with the new signed
// head (and a checkpoint when one is due; tick: the timer asks for one).
func (w *writer) appendAudit(ctx context.Context, tx pgx.Tx, entries []*coffer.AuditEntry, tick bool) (*sealedChain, error) {
	if len(entries) == 0 && !tick {
		return nil, nil
	}
	from, err := w.guard.Extend(ctx, pgTx{tx})
	if err != nil {
		return nil, err
	}
	c := from
	now := time.Now().UTC() // audit entries are stamped at commit, in chain order
	rows := make([][]any, 0, len(entries))
	for _, e := range entries {
		e.Time = now
		c.Link(e)
		rows = append(rows, sqlstore.AuditArgs(e))
	}
	if len(rows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit"}, strings.Split(sqlstore.AuditColumns, ", "), pgx.CopyFromRows(rows)); err != nil {
			return nil, err
		}
	}
	cp, err := w.guard.Seal(ctx, pgTx{tx}, from, c, now)
	if err != nil {
		return nil, err
	}
	return &sealedChain{c: c, cp: cp}, nil
}
