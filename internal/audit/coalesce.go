package audit

import (
	"sync"
	"time"
)

// Coalescer keeps a flood of refusals (bad tokens, probes of unknown ids)
// from flooding the log: the first refusal from a source is written at
// once by the caller; further ones from that source within the next second
// are only counted, and one summary entry carrying the count is emitted at
// the end of that second. So every refusal is accounted for, and a source
// costs at most two entries a second.
type Coalescer struct {
	// Window is how long after a source's first refusal further ones are
	// counted (one second unless set).
	Window time.Duration
	// Emit writes the summary entry for key: count refusals after the
	// first, within the window that began at since. It runs on a timer
	// goroutine; Close waits for it.
	Emit func(key string, count int, since time.Time)

	mu      sync.Mutex
	open    map[string]*window
	wg      sync.WaitGroup
	closing bool
}

type window struct {
	since time.Time
	count int
	timer *time.Timer
}

// maxOpen bounds the sources tracked at once; past it, refusals are not
// coalesced (each is written) rather than forgotten.
const maxOpen = 100_000

// Note records a refusal from key. It reports true when the caller must
// write this refusal's entry itself now (the first in its window).
func (c *Coalescer) Note(key string, now time.Time) (writeNow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return true
	}
	if w := c.open[key]; w != nil {
		w.count++
		return false
	}
	if c.open == nil {
		c.open = map[string]*window{}
	}
	if len(c.open) >= maxOpen {
		return true
	}
	d := c.Window
	if d <= 0 {
		d = time.Second
	}
	w := &window{since: now}
	c.open[key] = w
	c.wg.Add(1)
	w.timer = time.AfterFunc(d, func() { c.flush(key, w) })
	return true
}

func (c *Coalescer) flush(key string, w *window) {
	defer c.wg.Done()
	c.mu.Lock()
	if c.open[key] == w {
		delete(c.open, key)
	}
	n := w.count
	c.mu.Unlock()
	if n > 0 {
		c.Emit(key, n, w.since)
	}
}

// Close emits every pending summary now and waits for the emitters.
func (c *Coalescer) Close() {
	c.mu.Lock()
	c.closing = true
	var now []func()
	for key, w := range c.open {
		if w.timer.Stop() { // not fired yet: flush it here
			now = append(now, func() { c.flush(key, w) })
		}
	}
	c.mu.Unlock()
	for _, f := range now {
		f()
	}
	c.wg.Wait()
}
