package logthrottle

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration)     { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock                   { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func allow(t *Throttle, key string) bool { _, ok := t.Allow(key); return ok }

func TestAllowOncePerInterval(t *testing.T) {
	t.Parallel()
	c := newClock()
	th := New(30*time.Second, c.now)
	if n, ok := th.Allow("a"); !ok || n != 0 {
		t.Fatalf("first occurrence: Allow = %d, %v; want 0, true", n, ok)
	}
	for range 3 {
		c.add(9 * time.Second)
		if allow(th, "a") {
			t.Fatalf("allowed again %v after the last line", c.now().Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
		}
	}
	if !allow(th, "b") {
		t.Fatal("a different condition was throttled by the first")
	}
	c.add(3 * time.Second) // 30s since the first line
	n, ok := th.Allow("a")
	if !ok || n != 3 {
		t.Fatalf("after the interval: Allow = %d, %v; want 3 suppressed, true", n, ok)
	}
	c.add(time.Second)
	if allow(th, "a") {
		t.Fatal("the interval did not restart at the last allowed line")
	}
	c.add(30 * time.Second)
	if n, ok := th.Allow("a"); !ok || n != 1 {
		t.Fatalf("suppressed count did not restart: Allow = %d, %v; want 1, true", n, ok)
	}
}

func TestForgetEndsTheCondition(t *testing.T) {
	t.Parallel()
	c := newClock()
	th := New(time.Minute, c.now)
	if n, active := th.Forget("save"); active || n != 0 {
		t.Fatalf("Forget of an unknown condition = %d, %v; want 0, false", n, active)
	}
	th.Allow("save")
	th.Allow("save")
	th.Allow("save")
	if n, active := th.Forget("save"); !active || n != 2 {
		t.Fatalf("Forget = %d, %v; want 2 suppressed, true", n, active)
	}
	if !allow(th, "save") {
		t.Fatal("the first occurrence after Forget was throttled")
	}
}

func TestKeysBounded(t *testing.T) {
	t.Parallel()
	c := newClock()
	th := New(time.Second, c.now)
	for i := range maxKeys {
		th.Allow(fmt.Sprint(i))
	}
	c.add(time.Second)
	th.Allow("recent") // a new key past maxKeys: the stale ones are forgotten
	th.Allow("new")
	th.mu.Lock()
	n := len(th.keys)
	th.mu.Unlock()
	if n != 2 {
		t.Fatalf("remembered %d conditions, want the 2 within the interval", n)
	}
	if allow(th, "recent") {
		t.Fatal("a condition within its interval was forgotten")
	}
}

func TestConcurrentAllowOneWinner(t *testing.T) {
	t.Parallel()
	th := New(time.Hour, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			if allow(th, "k") {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 1 {
		t.Fatalf("%d concurrent occurrences allowed, want 1", allowed)
	}
	if n, _ := th.Forget("k"); n != 7 {
		t.Fatalf("suppressed = %d, want 7", n)
	}
}
