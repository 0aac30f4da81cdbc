package vault

import (
	"context"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
)

// What a vault does when several nodes share its store (PostgreSQL,
// SPEC §7): it drops the keys of subjects another node erased, answers
// the readiness probe from the store, and runs a background job only
// while it holds the job's lock.

// watchSubjects makes the vault forget what it caches of a subject when
// the store reports it erased (by any node), and everything when the
// store may have missed a report.
func (c *core) watchSubjects() {
	if w, ok := c.raw.(coffer.SubjectWatcher); ok {
		w.WatchSubjects(c.forget)
	}
}

// forget drops a subject's unwrapped DEK ("" : every DEK, and the key
// source is read again: a key notice may have been missed too); on
// coffer.KeysChanged it reads the key source again.
func (c *core) forget(subject string) {
	u := c.keys.Load()
	if u == nil {
		return
	}
	switch subject {
	case coffer.KeysChanged:
		c.spawn(c.reloadKeys)
	case "":
		u.deks.Clear()
		c.spawn(c.reloadKeys)
	default:
		u.deks.Remove(subject)
	}
}

// notifyKeys tells the other nodes sharing the store that the key source
// changed; they read it again (reloadKeys). A notice that cannot be sent
// (the database unreachable just then) is sent again in the background,
// every notifyRetry, until it goes out or the vault closes: until then the
// other nodes learn a new version only when they meet it (a wrapped key, a
// TOTP seal) or reconnect.
func (c *core) notifyKeys(ctx context.Context) {
	n, ok := c.raw.(coffer.KeyNotifier)
	if !ok {
		return
	}
	err := n.NotifyKeys(ctx)
	if err == nil {
		return
	}
	c.log.Error("telling the other nodes of a key change; trying again", "code", coffer.ErrorCode(err))
	c.spawn(func() {
		t := time.NewTicker(notifyRetry)
		defer t.Stop()
		for {
			select {
			case <-c.bgCtx.Done():
				return
			case <-t.C:
				if err := n.NotifyKeys(c.bgCtx); err == nil {
					c.log.Info("the other nodes were told of the key change")
					return
				}
			}
		}
	})
}

// notifyRetry is how often a key notice that could not be sent is tried
// again.
const notifyRetry = time.Second

// Ready reports whether the vault can answer data calls: unsealed
// (ESEALED) and its store answering (EUNAVAILABLE when the database
// cannot be reached).
func (v *Vault) Ready(ctx context.Context) error {
	if v.Sealed() {
		return errSealed
	}
	if p, ok := v.core.raw.(coffer.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// Job names: one lock each.
const (
	jobRetention = "retention"
	jobPurge     = "purge"
	jobRewrap    = "rewrap"
	jobReindex   = "reindex"
)

// asOneNode runs f unless another node runs job now (ran false): a store
// that nodes share takes the job's lock for the run; one that a single
// process serves (SQLite) needs none.
func (c *core) asOneNode(ctx context.Context, job string, f func() error) (ran bool, err error) {
	l, ok := c.raw.(coffer.JobLocker)
	if !ok {
		return true, f()
	}
	unlock, mine, err := l.TryLock(ctx, job)
	if err != nil || !mine {
		return false, err
	}
	defer unlock()
	return true, f()
}

// waitJob takes job's lock for a job that must run after another node's
// run rather than skip (a re-wrap after a later rotation): it waits while
// another node holds the lock (coffer.JobWaiter), or fails with
// ECONFLICT on a store that can only try (coffer.JobLocker). A store that
// a single process serves needs no lock.
func (c *core) waitJob(ctx context.Context, job string) (unlock func(), err error) {
	switch l := c.raw.(type) {
	case coffer.JobWaiter:
		return l.Lock(ctx, job)
	case coffer.JobLocker:
		unlock, ok, err := l.TryLock(ctx, job)
		if err == nil && !ok {
			err = coffer.Errorf(coffer.ECONFLICT, "another node runs the %s job", job)
		}
		return unlock, err
	}
	return func() {}, nil
}

// heldElsewhere reports whether another node (or session) holds job's
// lock now: a probe that takes and at once releases it.
func (c *core) heldElsewhere(ctx context.Context, job string) (bool, error) {
	l, ok := c.raw.(coffer.JobLocker)
	if !ok {
		return false, nil
	}
	unlock, mine, err := l.TryLock(ctx, job)
	unlock()
	return err == nil && !mine, err
}

// bgJob is the state of a background job that runs once at a time on a
// node and, on a store that nodes share, under its job lock (the key
// re-wrap, the re-index). Its fields are guarded by the owner's mutex.
type bgJob struct {
	running bool
	locked  bool          // the running job holds its job lock (it may wait for another node's)
	done    chan struct{} // closed when the last started run ended
	err     error         // how the last run ended
	total   int           // what the last run moved (keys, records)
}

// startJob runs f in the background unless j runs already; the caller
// holds mu. what and unit name the job in the log; Close waits for it.
func (c *core) startJob(j *bgJob, mu *sync.Mutex, what, unit string, f func(context.Context) (int, error)) {
	if j.running {
		return
	}
	j.running, j.locked, j.done = true, false, make(chan struct{})
	done := j.done
	c.spawn(func() {
		n, err := f(c.bgCtx)
		if err != nil {
			c.log.Error(what+" stopped", "code", coffer.ErrorCode(err), unit, n)
		} else {
			c.log.Info(what+" done", unit, n)
		}
		mu.Lock()
		j.running, j.locked, j.err, j.total = false, false, err, n
		mu.Unlock()
		close(done)
	})
}

// asLockedJob runs f under job's lock (waiting while another node holds
// it) and marks j as holding it.
func (c *core) asLockedJob(ctx context.Context, job string, j *bgJob, mu *sync.Mutex, f func(context.Context) (int, error)) (int, error) {
	unlock, err := c.waitJob(ctx, job)
	if err != nil {
		return 0, err
	}
	defer unlock()
	mu.Lock()
	j.locked = true
	mu.Unlock()
	return f(ctx)
}

// wait waits for j's last started run, if any (started false when none
// was), and returns how it ended.
func (j *bgJob) wait(ctx context.Context, mu *sync.Mutex) (started bool, err error) {
	mu.Lock()
	done := j.done
	mu.Unlock()
	if done == nil {
		return false, nil
	}
	select {
	case <-done:
	case <-ctx.Done():
		return true, ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	return true, j.err
}
