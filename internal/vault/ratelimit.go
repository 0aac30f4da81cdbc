package vault

import (
	"math"
	"sync"
	"time"
)

// RateLimit is a token bucket per API key: PerSecond tokens a second, up
// to Burst. Zero PerSecond disables it.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

type bucket struct {
	tokens  float64
	last    time.Time
	audited time.Time // last time a refusal was audited
}

// limiter holds the buckets. Refusals are audited at most once a second
// per key, so that a flood cannot turn into a flood of audit writes.
type limiter struct {
	rate    RateLimit
	mu      sync.Mutex
	buckets map[string]*bucket
}

func newLimiter(r RateLimit) *limiter {
	if r.Burst < 1 {
		r.Burst = int(math.Max(1, math.Ceil(r.PerSecond)))
	}
	return &limiter{rate: r, buckets: map[string]*bucket{}}
}

// allow takes a token for key at now. When refused it reports how long
// until a token is back and whether this refusal should be audited.
func (l *limiter) allow(key string, now time.Time) (ok bool, retry time.Duration, audit bool) {
	if l == nil || l.rate.PerSecond <= 0 {
		return true, 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) > 100_000 { // bound memory: forget idle keys
			clear(l.buckets)
		}
		b = &bucket{tokens: float64(l.rate.Burst), last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.rate.Burst), b.tokens+now.Sub(b.last).Seconds()*l.rate.PerSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0, false
	}
	retry = time.Duration((1 - b.tokens) / l.rate.PerSecond * float64(time.Second))
	if now.Sub(b.audited) >= time.Second {
		b.audited = now
		audit = true
	}
	return false, retry, audit
}
