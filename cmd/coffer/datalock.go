package main

import (
	"errors"
	"fmt"

	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/datadir"
)

// One process serves a SQLite data directory (SPEC §7): serve holds
// <data>/coffer.lock (internal/datadir) for as long as it runs. The
// offline verbs that write (keys rotate, api-key create) take the same
// lock for their few seconds, and while a server holds it they refuse,
// naming the server and how to do the same through it: two processes
// writing one database would leave the server's caches stale (a deleted
// record still served, a key it does not know). Read-only tools (audit
// verify, keys status) open the database without the lock.

// lockData takes the data directory for an offline writer, or returns
// nil for PostgreSQL (its nodes coordinate in the database). instead says
// what to do while a server runs.
func lockData(cfg config.Config, verb, instead string) (*datadir.Lock, error) {
	if cfg.Database != "" {
		return nil, nil
	}
	l, err := datadir.Acquire(cfg.Data, "offline: coffer "+verb)
	var held *datadir.HeldError
	if errors.As(err, &held) {
		who := "another coffer process"
		if held.Holder.PID != 0 {
			who = fmt.Sprintf("coffer serve (pid %d, %s)", held.Holder.PID, held.Holder.Addr)
		}
		return nil, fmt.Errorf("%s: the data directory %s is held by %s; %s", verb, cfg.Data, who, instead)
	}
	return l, err
}
