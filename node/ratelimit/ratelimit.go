// Package ratelimit limits events per key (a member of a group) with one
// token bucket each, from golang.org/x/time/rate, in a map of bounded size so
// that many keys cannot exhaust memory.
//
// A Limiter is safe for concurrent use.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter allows Burst events at once per key, refilled at Rate per second.
type Limiter[K comparable] struct {
	rate  rate.Limit
	burst int
	max   int

	mu      sync.Mutex
	buckets map[K]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

// New returns a limiter of perSecond events per key with bursts of burst,
// tracking at most maxKeys keys (the least recently used is forgotten, which
// only ever gives a key a fresh bucket).
func New[K comparable](perSecond float64, burst, maxKeys int) *Limiter[K] {
	return &Limiter[K]{rate: rate.Limit(perSecond), burst: burst, max: maxKeys, buckets: make(map[K]*bucket)}
}

// Allow reports whether one more event for key is allowed at now, and takes
// a token if so.
func (l *Limiter[K]) Allow(key K, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evict()
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.used = now
	return b.lim.AllowN(now, 1)
}

func (l *Limiter[K]) evict() {
	var oldest K
	var t time.Time
	first := true
	for k, b := range l.buckets {
		if first || b.used.Before(t) {
			oldest, t, first = k, b.used, false
		}
	}
	delete(l.buckets, oldest)
}
