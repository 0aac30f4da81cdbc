// Package datadir guards a SQLite data directory: one serving process at a
// time, held by flock(2) on <data>/coffer.lock. The lock is advisory and
// taken on a separate file, not through SQLite's exclusive locking mode, so
// read-only tools (audit verify, backup of a stopped directory) still open
// the database while a server runs. The kernel drops the lock when the
// process dies, so a crash never leaves a stale lock behind.
package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockName is the lock file's name inside the data directory.
const LockName = "coffer.lock"

// Holder says who holds a data directory.
type Holder struct {
	PID  int    `json:"pid"`
	Addr string `json:"addr"`
}

// HeldError is returned when another process serves the directory.
type HeldError struct {
	Dir    string
	Holder Holder // zero when the holder did not say
}

func (e *HeldError) Error() string {
	if e.Holder.PID == 0 {
		return fmt.Sprintf("data directory %s is served by another coffer process", e.Dir)
	}
	return fmt.Sprintf("data directory %s is served by another coffer process (pid %d, listening on %s); stop it first, or talk to it with COFFER_ADDR", e.Dir, e.Holder.PID, e.Holder.Addr)
}

// Lock is a held data directory.
type Lock struct{ f *os.File }

// Acquire takes the directory for this process, recording addr as where it
// serves. It fails with *HeldError when another process holds it.
func Acquire(dir, addr string) (*Lock, error) {
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			he := &HeldError{Dir: dir}
			if b, rerr := os.ReadFile(path); rerr == nil {
				_ = json.Unmarshal(b, &he.Holder) // a holder still writing says nothing yet
			}
			return nil, he
		}
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	b, _ := json.Marshal(Holder{PID: os.Getpid(), Addr: addr})
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(b, 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release gives the directory up.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}
