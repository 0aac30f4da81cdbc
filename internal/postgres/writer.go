package postgres

import (
	"context"
	"errors"
	"strings"
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
	pool   *pgxpool.Pool
	signer *audit.Signer

	*sqlstore.Queue // Write: callers queue their writes
	stopped         chan struct{}
}

func newWriter(pool *pgxpool.Pool, signer *audit.Signer) *writer {
	w := &writer{pool: pool, signer: signer, Queue: sqlstore.NewQueue(maxBatch), stopped: make(chan struct{})}
	go w.loop()
	return w
}

// close commits what is queued and stops the writer.
func (w *writer) close() {
	w.Queue.Close()
	<-w.stopped
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
	for {
		var failedOp *sqlstore.Op
		err := w.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
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
			return w.appendAudit(ctx, tx, entries)
		})
		if failedOp != nil {
			failedOp.Failed = err
			continue
		}
		if err != nil {
			var ce *coffer.Error
			if !errors.As(err, &ce) || ce.Code != coffer.EINTERNAL {
				err = &coffer.Error{Code: coffer.EINTERNAL, Message: "storage failure", Err: err}
			}
		} else {
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

// appendAudit links entries to the chain under the head's row lock and
// inserts them with the new signed head.
func (w *writer) appendAudit(ctx context.Context, tx pgx.Tx, entries []*coffer.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var c audit.Chain
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&c.Seq, &c.Last); err != nil {
		return err
	}
	now := time.Now().UTC() // audit entries are stamped at commit, in chain order
	rows := make([][]any, 0, len(entries))
	for _, e := range entries {
		e.Time = now
		c.Link(e)
		rows = append(rows, sqlstore.AuditArgs(e))
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit"}, strings.Split(sqlstore.AuditColumns, ", "), pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	var sig []byte
	if w.signer != nil {
		sig = w.signer.Sign(c.Seq, c.Last).Signature
	}
	_, err := tx.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2, signature = $3 WHERE id = 1`, c.Seq, c.Last, sig)
	return err
}
