package checkpoint

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Budget is the single byte budget for everything read but not acknowledged
// (agent.memory_limit). Safe for concurrent use.
//
// Waiters are served in FIFO order: a large request at the head of the queue
// is not starved by a stream of small ones behind it. Waiting uses one
// channel per blocked Acquire and no helper goroutines, so a cancelled
// Acquire leaks nothing.
type Budget struct {
	mu      sync.Mutex
	limit   int64
	held    int64
	waiters list.List // of *budgetWaiter, FIFO

	// A share (see Share) draws on parent as well and has no fixed limit.
	parent *Budget
	closed atomic.Bool
	shares atomic.Int64 // open shares of this budget
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed by grantLocked once n bytes are held for it
}

// NewBudget returns a budget of limit bytes (limit > 0). It panics when
// limit <= 0: that is a wiring bug, configuration validation rejects it.
func NewBudget(limit int64) *Budget {
	if limit <= 0 {
		panic(fmt.Sprintf("checkpoint: NewBudget(%d): limit must be > 0", limit))
	}
	return &Budget{limit: limit}
}

// Acquire blocks until n bytes are available or ctx is done (then it returns
// ctx.Err() and holds nothing). A request larger than the whole limit is
// granted once nothing else is held, so a huge read can never deadlock.
//
// Acquire(ctx, 0) returns nil at once; a negative n panics (caller bug). When
// ctx is already done Acquire returns ctx.Err() without acquiring, even if
// the bytes are free.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	if n < 0 {
		panic(fmt.Sprintf("checkpoint: Budget.Acquire(%d): negative size", n))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if err := b.acquire(ctx, n); err != nil {
		return err
	}
	if b.parent != nil {
		if err := b.parent.Acquire(ctx, n); err != nil {
			b.release(n)
			return err
		}
	}
	return nil
}

// acquire is Acquire on b alone (not its parent).
func (b *Budget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.fitsLocked(n) {
		b.held += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready:
			// Granted while we were being cancelled: give the bytes back
			// so the contract "holds nothing" holds.
			b.held -= n
		default:
			b.waiters.Remove(elem)
		}
		// Either path may let the (new) head of the queue proceed.
		b.grantLocked()
		b.mu.Unlock()
		return ctx.Err()
	}
}

// Release returns n bytes previously acquired. It never blocks and may be
// called from any goroutine. Releasing more than is held panics: the
// accounting would be wrong from then on, which is a caller bug.
func (b *Budget) Release(n int64) {
	if n == 0 {
		return
	}
	if n < 0 {
		panic(fmt.Sprintf("checkpoint: Budget.Release(%d): negative size", n))
	}
	b.release(n)
	if b.parent != nil {
		b.parent.Release(n)
	}
}

// release is Release on b alone (not its parent).
func (b *Budget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.held {
		panic(fmt.Sprintf("checkpoint: Budget.Release(%d) with only %d held", n, b.held))
	}
	b.held -= n
	b.grantLocked()
}

// Charge adds n bytes without waiting, possibly beyond the limit; later
// Acquire calls wait until usage is back under it. It is for costs known
// only after a read (the per-record overhead of many short lines): waiting
// for them while holding the read's bytes could deadlock readers against
// each other. The bytes are returned with Release like acquired ones.
func (b *Budget) Charge(n int64) {
	if n < 0 {
		panic(fmt.Sprintf("checkpoint: Budget.Charge(%d): negative size", n))
	}
	b.mu.Lock()
	b.held += n
	b.mu.Unlock()
	if b.parent != nil {
		b.parent.Charge(n)
	}
}

// InUse reports the bytes currently held (for the logship_inflight_bytes
// gauge). Safe from any goroutine.
func (b *Budget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}

// Limit reports the limit in bytes: the configured one, or for a share its
// current part of its parent's.
func (b *Budget) Limit() int64 {
	if b.parent == nil {
		return b.limit
	}
	return max(b.parent.limit/max(b.parent.shares.Load(), 1), 1)
}

// Share returns a budget that draws on b and may hold at most an equal
// part of b's limit: Limit()/n for the n shares of b open at the time (n
// changes as shares are made and closed). It is for fairness between
// pipelines sharing the agent's budget: bytes one pipeline cannot get
// acknowledged (its topic deleted, its partitions gone) hold at most its
// part, so its own readers wait while the other pipelines keep reading.
//
// A share's Acquire waits for its part and then for b; Release and Charge
// apply to both; InUse is the share's own. Close it when its pipeline is
// gone; bytes it still holds are released through it as usual.
func (b *Budget) Share() *Budget {
	b.shares.Add(1)
	return &Budget{parent: b}
}

// Close gives a share's part back to the other shares of its budget (their
// parts grow). Closing twice, or closing a budget that is not a share, does
// nothing.
func (b *Budget) Close() {
	if b.parent != nil && b.closed.CompareAndSwap(false, true) {
		b.parent.shares.Add(-1)
	}
}

// fitsLocked reports whether n more bytes may be held now. An oversize
// request fits only when nothing is held.
func (b *Budget) fitsLocked(n int64) bool {
	return b.held+n <= b.Limit() || b.held == 0
}

// grantLocked wakes waiters from the head of the queue while they fit.
func (b *Budget) grantLocked() {
	for {
		front := b.waiters.Front()
		if front == nil {
			return
		}
		w := front.Value.(*budgetWaiter)
		if !b.fitsLocked(w.n) {
			return
		}
		b.held += w.n
		b.waiters.Remove(front)
		close(w.ready)
	}
}
