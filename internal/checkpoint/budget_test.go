package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

const waitFor = 5 * time.Second

// acquireAsync starts Acquire in a goroutine (which exits when Acquire
// returns) and returns the channel receiving its result.
func acquireAsync(ctx context.Context, b *Budget, n int64) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.Acquire(ctx, n) }()
	return ch
}

func mustBlock(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("Acquire returned %v, want it to block", err)
	case <-time.After(20 * time.Millisecond):
	}
}

func mustReturn(t *testing.T, ch <-chan error, want error) {
	t.Helper()
	select {
	case err := <-ch:
		if !errors.Is(err, want) && err != want {
			t.Fatalf("Acquire = %v, want %v", err, want)
		}
	case <-time.After(waitFor):
		t.Fatal("Acquire still blocked")
	}
}

// waitQueued waits until n Acquire calls are queued.
func waitQueued(t *testing.T, b *Budget, n int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d queued Acquire calls", n), func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.waiters.Len() == n
	})
}

// heldBudget returns a budget of limit of which held is already acquired.
func heldBudget(t *testing.T, limit, held int64) *Budget {
	t.Helper()
	b := NewBudget(limit)
	if err := b.Acquire(t.Context(), held); err != nil {
		t.Fatal(err)
	}
	return b
}

// wantInUse fails the test unless b has exactly n in use.
func wantInUse(t *testing.T, b *Budget, n int64) {
	t.Helper()
	if got := b.InUse(); got != n {
		t.Fatalf("InUse=%d, want %d", got, n)
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	t.Run("within limit", func(t *testing.T) {
		b := NewBudget(100)
		for range 4 {
			if err := b.Acquire(t.Context(), 25); err != nil {
				t.Fatal(err)
			}
		}
		if b.InUse() != 100 || b.Limit() != 100 {
			t.Fatalf("InUse=%d Limit=%d", b.InUse(), b.Limit())
		}
		if err := b.Acquire(t.Context(), 0); err != nil {
			t.Fatal(err)
		}
		b.Release(100)
		wantInUse(t, b, 0)
	})
	t.Run("blocks until release", func(t *testing.T) {
		b := heldBudget(t, 100, 80)
		ch := acquireAsync(t.Context(), b, 30)
		mustBlock(t, ch)
		b.Release(10)
		mustReturn(t, ch, nil)
		wantInUse(t, b, 100)
	})
	t.Run("ctx cancel holds nothing", func(t *testing.T) {
		b := heldBudget(t, 100, 100)
		ctx, cancel := context.WithCancel(t.Context())
		ch := acquireAsync(ctx, b, 50)
		waitQueued(t, b, 1)
		cancel()
		mustReturn(t, ch, context.Canceled)
		waitQueued(t, b, 0)
		b.Release(100)
		wantInUse(t, b, 0)
	})
	t.Run("ctx deadline", func(t *testing.T) {
		b := heldBudget(t, 10, 10)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		if err := b.Acquire(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire = %v", err)
		}
		wantInUse(t, b, 10)
	})
	t.Run("already cancelled", func(t *testing.T) {
		b := NewBudget(10)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := b.Acquire(ctx, 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire = %v", err)
		}
		wantInUse(t, b, 0)
	})
	t.Run("oversize granted when empty", func(t *testing.T) {
		b := heldBudget(t, 100, 1000)
		wantInUse(t, b, 1000)
		ch := acquireAsync(t.Context(), b, 1)
		mustBlock(t, ch)
		b.Release(1000)
		mustReturn(t, ch, nil)
	})
	t.Run("oversize waits for everything", func(t *testing.T) {
		b := heldBudget(t, 100, 10)
		big := acquireAsync(t.Context(), b, 500)
		mustBlock(t, big)
		b.Release(10)
		mustReturn(t, big, nil)
		b.Release(500)
	})
	t.Run("fifo: large waiter not starved", func(t *testing.T) {
		b := heldBudget(t, 100, 60)
		big := acquireAsync(t.Context(), b, 80)
		waitQueued(t, b, 1)
		small := acquireAsync(t.Context(), b, 10) // would fit, but queues behind big
		waitQueued(t, b, 2)
		mustBlock(t, small)
		b.Release(60)
		mustReturn(t, big, nil)
		mustReturn(t, small, nil)
		wantInUse(t, b, 90)
	})
	t.Run("cancelled head unblocks the next", func(t *testing.T) {
		b := heldBudget(t, 100, 60)
		ctx, cancel := context.WithCancel(t.Context())
		big := acquireAsync(ctx, b, 80)
		waitQueued(t, b, 1)
		small := acquireAsync(t.Context(), b, 10)
		waitQueued(t, b, 2)
		cancel()
		mustReturn(t, big, context.Canceled)
		mustReturn(t, small, nil)
		wantInUse(t, b, 70)
	})
	t.Run("misuse panics", func(t *testing.T) {
		for name, f := range map[string]func(){
			"zero limit":       func() { NewBudget(0) },
			"negative acquire": func() { _ = NewBudget(1).Acquire(context.Background(), -1) },
			"over release":     func() { NewBudget(10).Release(1) },
			"negative release": func() { NewBudget(10).Release(-1) },
		} {
			t.Run(name, func(t *testing.T) {
				defer func() {
					if recover() == nil {
						t.Fatal("no panic")
					}
				}()
				f()
			})
		}
	})
}

// TestBudgetStress races many acquirers, releasers and cancellations; the
// budget must never exceed its limit (except a lone oversize holder) and end
// empty.
func TestBudgetStress(t *testing.T) {
	t.Parallel()
	const limit = 1000
	b := NewBudget(limit)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() { // exits after its iterations
			for i := range 200 {
				n := int64(1 + (g*7+i*13)%300)
				if g%8 == 0 && i%20 == 0 {
					n = 2 * limit // oversize
				}
				ctx, cancel := context.WithCancel(t.Context())
				if i%3 != 0 {
					cancel()
					ctx, cancel = context.WithTimeout(t.Context(), time.Duration(i%3)*time.Millisecond)
				}
				err := b.Acquire(ctx, n)
				cancel()
				if err != nil {
					continue
				}
				if in := b.InUse(); in > limit && in != n {
					t.Errorf("InUse=%d exceeds limit while holding %d", in, n)
				}
				b.Release(n)
			}
		})
	}
	wg.Wait()
	wantInUse(t, b, 0)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiters.Len() != 0 {
		t.Fatalf("%d waiters left", b.waiters.Len())
	}
}

// TestBudgetShare: a share holds at most its part of the parent's limit, so
// a pipeline whose bytes are stuck (never released) leaves the others their
// parts; closing a share gives its part to the others; bytes flow back to
// the parent through the share.
func TestBudgetShare(t *testing.T) {
	t.Parallel()
	b := NewBudget(100)
	stuck, other := b.Share(), b.Share()
	if stuck.Limit() != 50 || other.Limit() != 50 {
		t.Fatalf("share limits %d %d, want 50 50", stuck.Limit(), other.Limit())
	}
	if err := stuck.Acquire(t.Context(), 50); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := stuck.Acquire(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stuck share beyond its part: Acquire = %v, want deadline exceeded", err)
	}
	for range 10 { // the other share keeps flowing
		if err := other.Acquire(t.Context(), 40); err != nil {
			t.Fatal(err)
		}
		other.Release(40)
	}
	if b.InUse() != 50 || stuck.InUse() != 50 || other.InUse() != 0 {
		t.Fatalf("InUse parent %d stuck %d other %d, want 50 50 0", b.InUse(), stuck.InUse(), other.InUse())
	}
	other.Charge(10)
	if b.InUse() != 60 || other.InUse() != 10 {
		t.Fatalf("after Charge: parent %d other %d, want 60 10", b.InUse(), other.InUse())
	}
	other.Release(10)
	other.Close()
	other.Close()
	if stuck.Limit() != 100 {
		t.Fatalf("after Close: stuck share limit %d, want 100", stuck.Limit())
	}
	if err := stuck.Acquire(t.Context(), 50); err != nil {
		t.Fatal(err)
	}
	stuck.Release(100)
	if b.InUse() != 0 || stuck.InUse() != 0 {
		t.Fatalf("InUse parent %d share %d, want 0 0", b.InUse(), stuck.InUse())
	}
}

// TestBudgetShareCancelHoldsNothing: a share's Acquire cancelled while
// waiting for the parent gives back what it took from the share.
func TestBudgetShareCancelHoldsNothing(t *testing.T) {
	t.Parallel()
	b := NewBudget(100)
	s := b.Share()
	b.Charge(100) // the parent is full (another holder)
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.Acquire(short, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire = %v, want deadline exceeded", err)
	}
	if s.InUse() != 0 || b.InUse() != 100 {
		t.Fatalf("InUse share %d parent %d, want 0 100", s.InUse(), b.InUse())
	}
}
