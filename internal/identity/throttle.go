package identity

import (
	"net/netip"
	"sync"
	"time"
)

// LoginThrottle slows down password guessing without letting a guesser lock
// the rightful user out. Failures are counted per (username, source) and
// per source, never per username alone: a right password and code from a
// source that has not failed always gets in, however hard another source
// hammers the same name. After a few free failures each further one doubles
// the wait, up to a cap; a success clears the pair. Sources are compared by
// /64 for IPv6 (one host owns a /64) and by address for IPv4.
//
// The throttle never looks the username up, so a throttled known user and a
// throttled unknown name answer alike.
type LoginThrottle struct {
	// PairFree and SourceFree are the failures allowed before waits start.
	PairFree, SourceFree int
	// Base is the first wait, doubled by each further failure, up to Max.
	Base, Max time.Duration
	// Forget drops a counter this long after its last failure.
	Forget time.Duration

	mu    sync.Mutex
	pairs map[pairKey]*failures
	srcs  map[netip.Prefix]*failures
}

// DefaultLoginThrottle: 3 free failures per (user, source), 20 per source;
// waits from 1 s doubling to 15 min; counters forgotten after 1 h idle.
func DefaultLoginThrottle() *LoginThrottle {
	return &LoginThrottle{PairFree: 3, SourceFree: 20, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour}
}

type pairKey struct {
	user string
	src  netip.Prefix
}

type failures struct {
	n     int
	last  time.Time
	until time.Time // no attempt before this
}

// maxEntries bounds memory under a flood from many sources.
const maxEntries = 100_000

func source(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// Wait returns how long the caller must wait before this attempt may be
// checked; zero means go ahead.
func (t *LoginThrottle) Wait(user string, from netip.Addr, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	src := source(from)
	var wait time.Duration
	if f := t.pairs[pairKey{user, src}]; f != nil && now.Before(f.until) {
		wait = f.until.Sub(now)
	}
	if f := t.srcs[src]; f != nil && now.Before(f.until) {
		wait = max(wait, f.until.Sub(now))
	}
	return wait
}

// Fail counts a failed attempt (wrong password or code, unknown user).
func (t *LoginThrottle) Fail(user string, from netip.Addr, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pairs == nil {
		t.pairs, t.srcs = map[pairKey]*failures{}, map[netip.Prefix]*failures{}
	}
	t.prune(now)
	src := source(from)
	pk := pairKey{user, src}
	if t.pairs[pk] == nil {
		t.pairs[pk] = &failures{}
	}
	if t.srcs[src] == nil {
		t.srcs[src] = &failures{}
	}
	t.pairs[pk].add(now, t.PairFree, t.Base, t.Max)
	t.srcs[src].add(now, t.SourceFree, t.Base, t.Max)
}

// Succeed clears the pair's failures (the source's stay: a source that
// guessed many names does not earn a clean slate by knowing one).
func (t *LoginThrottle) Succeed(user string, from netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pairs, pairKey{user, source(from)})
}

func (f *failures) add(now time.Time, free int, base, ceiling time.Duration) {
	f.n++
	f.last = now
	if over := f.n - free; over > 0 {
		wait := ceiling
		if over < 30 && base<<(over-1) < ceiling {
			wait = base << (over - 1)
		}
		f.until = now.Add(wait)
	}
}

// prune forgets idle counters; under a flood that fills the maps with live
// ones it forgets the oldest half of the pairs (sources are far fewer).
func (t *LoginThrottle) prune(now time.Time) {
	if len(t.pairs) < maxEntries && len(t.srcs) < maxEntries {
		return
	}
	for k, f := range t.pairs {
		if now.Sub(f.last) > t.Forget && now.After(f.until) {
			delete(t.pairs, k)
		}
	}
	for k, f := range t.srcs {
		if now.Sub(f.last) > t.Forget && now.After(f.until) {
			delete(t.srcs, k)
		}
	}
	for k := range t.pairs {
		if len(t.pairs) < maxEntries/2 {
			break
		}
		delete(t.pairs, k)
	}
	for k := range t.srcs {
		if len(t.srcs) < maxEntries/2 {
			break
		}
		delete(t.srcs, k)
	}
}
