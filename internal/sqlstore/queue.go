package sqlstore

import (
	"context"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
)

// Op is a queued Write and what became of it.
type Op struct {
	*Write
	// Failed is set by the writer when Apply failed with a domain error:
	// the change is left out, its audit entries are appended as errors.
	Failed error
	done   chan error
}

// Done answers the caller waiting in Queue.Write.
func (o *Op) Done(err error) { o.done <- err }

// Queue hands Writes to a store's writer goroutine, which receives them
// from Ops and answers each with Op.Done. It implements Writer.
type Queue struct {
	mu     sync.RWMutex // guards closed against sends on a closed ops
	closed bool
	ops    chan *Op
}

// NewQueue returns a queue that holds up to n writes.
func NewQueue(n int) *Queue { return &Queue{ops: make(chan *Op, n)} }

// Ops is what the writer receives; it is closed by Close.
func (q *Queue) Ops() <-chan *Op { return q.ops }

// Write implements Writer: it queues w and waits until the writer answers
// (durable, or failed) or ctx ends; then the write may still commit, and
// the caller is told ctx's error.
func (q *Queue) Write(ctx context.Context, w *Write) error {
	o := &Op{Write: w, done: make(chan error, 1)}
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return &coffer.Error{Code: coffer.EINTERNAL, Message: "store is closed"}
	}
	select {
	case q.ops <- o:
	case <-ctx.Done():
		q.mu.RUnlock()
		return ctx.Err()
	}
	q.mu.RUnlock()
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close refuses further writes; the writer drains what is queued.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ops)
	}
}

// Tick queues an empty write every d while g has entries past its last
// checkpoint, until stop is closed, so that the writer considers a
// time-based checkpoint (SPEC §8: at least one a minute) even while
// nothing is written. An idle log costs nothing.
func Tick(stop <-chan struct{}, d time.Duration, w Writer, g *AuditGuard) {
	if d <= 0 {
		d = DefaultCheckpointInterval
	}
	t := time.NewTicker(d)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if g.Pending() {
				_ = w.Write(ctx, &Write{})
			}
		}
	}
}
