package postgres

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
)

// Nodes that share one PostgreSQL schema.
//
// Cache coherence: the erasure's transaction notifies (a trigger on the
// subjects table, migration 00010: pg_notify is delivered when, and only
// if, the transaction commits) and every node listens on a dedicated
// connection. A node that loses that connection may have missed notices,
// so it reports "drop everything" when it loses it and again when it is
// back. Correctness does not rest on the notice's timing: the rows and
// the wrapped DEK are gone at the commit, so another node has no
// ciphertext left to open, and a write for a gone subject is refused at
// its commit (sqlstore.ApplyChange locks the subject row). The notice is
// what drops the unwrapped key from every node's memory.

var (
	_ coffer.SubjectWatcher = (*Store)(nil)
	_ coffer.JobLocker      = (*Store)(nil)
	_ coffer.JobWaiter      = (*Store)(nil)
	_ coffer.KeyNotifier    = (*Store)(nil)
)

const (
	channel      = "coffer_subjects"
	listenerName = "coffer-listener"
)

// listener holds the LISTEN connection and the watchers it reports to.
type listener struct {
	cfg    *pgx.ConnConfig
	schema string
	mu     sync.Mutex
	fns    []func(string)
	stop   context.CancelFunc
	done   chan struct{}
}

// NotifyKeys implements coffer.KeyNotifier: the notice goes out on the
// subjects' channel, as coffer.KeysChanged in place of an id.
func (s *Store) NotifyKeys(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, current_schema() || '/' || $2)`, channel, coffer.KeysChanged)
	return unavailable(err)
}

// WatchSubjects implements coffer.SubjectWatcher.
func (s *Store) WatchSubjects(changed func(subject string)) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.l.fns = append(s.l.fns, changed)
}

func (l *listener) report(id string) {
	l.mu.Lock()
	fns := l.fns
	l.mu.Unlock()
	for _, f := range fns {
		f(id)
	}
}

// startListener connects and listens before Open returns (a notice sent
// after Open is never missed while the connection holds), then follows
// notices in the background until close.
func startListener(ctx context.Context, cfg *pgx.ConnConfig) (*listener, error) {
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = listenerName // visible in pg_stat_activity
	l := &listener{cfg: cfg, done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&l.schema); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	go l.run(bg, conn)
	return l, nil
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+channel); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

// retryEvery is how long the listener waits between reconnection attempts.
const retryEvery = 500 * time.Millisecond

func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	for {
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				break
			}
			if schema, id, ok := strings.Cut(n.Payload, "/"); ok && schema == l.schema {
				l.report(id)
			}
		}
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		l.report("") // notices may be missed from now on
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryEvery):
			}
			var err error
			if conn, err = l.connect(ctx); err == nil {
				break
			}
		}
		l.report("") // and may have been missed until now
	}
}

func (l *listener) close() {
	l.stop()
	<-l.done
}

// TryLock implements coffer.JobLocker with a session-level advisory lock
// (pg_try_advisory_lock) on a connection taken from the pool and held
// until unlock. The key is the schema and the job's name, hashed: nodes
// of other schemas in the same database do not collide. If that
// connection is lost, PostgreSQL releases the lock, and another node may
// start the job while this one finishes a page: jobs are written to be
// safe to run twice (each page is its own conditional transaction), the
// lock only keeps nodes from doing the same work.
func (s *Store) TryLock(ctx context.Context, job string) (func(), bool, error) {
	return s.lock(ctx, job, `SELECT pg_try_advisory_lock(hashtextextended(current_schema() || '/job/' || $1, 0))`)
}

// Lock implements coffer.JobWaiter: TryLock's lock, waited for
// (pg_advisory_lock) until the node holding it releases it or ctx ends
// (pgx then cancels the statement and the connection is dropped).
func (s *Store) Lock(ctx context.Context, job string) (func(), error) {
	unlock, ok, err := s.lock(ctx, job, `SELECT true FROM (SELECT pg_advisory_lock(hashtextextended(current_schema() || '/job/' || $1, 0))) l`)
	if err == nil && !ok {
		err = coffer.Errorf(coffer.EINTERNAL, "job lock %s not taken", job)
	}
	return unlock, err
}

func (s *Store) lock(ctx context.Context, job, query string) (func(), bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return func() {}, false, unavailable(err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, query, job).Scan(&ok); err != nil {
		if ctx.Err() != nil { // a cancelled wait: the session may still queue for the lock
			conn.Hijack().Close(context.Background())
			return func() {}, false, ctx.Err()
		}
		conn.Release()
		return func() {}, false, unavailable(err)
	}
	if !ok {
		conn.Release()
		return func() {}, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended(current_schema() || '/job/' || $1, 0))`, job); err != nil {
				// The lock must not outlive the job: drop the session.
				conn.Hijack().Close(ctx)
				return
			}
			conn.Release()
		})
	}, true, nil
}
