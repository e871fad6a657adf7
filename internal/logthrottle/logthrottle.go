// Package logthrottle keeps a repeated condition to one log line per
// interval: the house rule "one log line per condition per interval, not per
// record" in one place, instead of a hand-rolled timestamp next to every
// log call.
package logthrottle

import (
	"sync"
	"time"
)

// maxKeys bounds the conditions a Throttle remembers. Past it, Allow forgets
// the conditions not logged within the interval (their next occurrence is
// logged at once, as if new), so keys built from paths or topics cannot grow
// without bound.
const maxKeys = 1024

// Throttle decides, per condition key, whether a log line may be written
// now: the first occurrence of a condition, then at most one per interval.
// It counts the occurrences it suppressed in between, for the line that
// follows them. It logs nothing itself. The zero value is not usable; a
// Throttle is safe for concurrent use.
type Throttle struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// New returns a Throttle allowing one line per condition per interval. now
// is the clock (nil: time.Now), injectable for tests.
func New(interval time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{interval: interval, now: now, keys: map[string]*entry{}}
}

// Allow reports whether a line for the condition key may be logged now:
// true for its first occurrence (or the first after Forget) and when at
// least the interval has passed since the last allowed line. When true,
// suppressed is the number of occurrences refused since that line, and the
// count restarts; when false, the occurrence is counted.
func (t *Throttle) Allow(key string) (suppressed int, ok bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e, seen := t.keys[key]
	if seen && now.Sub(e.last) < t.interval {
		e.suppressed++
		return 0, false
	}
	if !seen {
		t.prune(now)
		e = &entry{}
		t.keys[key] = e
	}
	suppressed = e.suppressed
	e.last, e.suppressed = now, 0
	return suppressed, true
}

// Forget ends the condition key (it cleared: a save succeeded, a topic came
// back): its next occurrence is logged at once. It reports whether the
// condition was active and how many occurrences were suppressed since its
// last line, for a "recovered" line.
func (t *Throttle) Forget(key string) (suppressed int, active bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.keys[key]
	if !ok {
		return 0, false
	}
	delete(t.keys, key)
	return e.suppressed, true
}

// prune forgets the conditions not logged within the interval once more
// than maxKeys are remembered. Called with mu held.
func (t *Throttle) prune(now time.Time) {
	if len(t.keys) < maxKeys {
		return
	}
	for k, e := range t.keys {
		if now.Sub(e.last) >= t.interval {
			delete(t.keys, k)
		}
	}
}
