package producer

import (
	"sync"
	"sync/atomic"
	"time"
)

// partitionQueue is the accumulator of one topic-partition: the open batch
// and the sealed batches waiting for the sender.
type partitionQueue struct {
	tp      topicPartition
	wake    chan struct{} // capacity 1: "something changed"
	mu      sync.Mutex
	open    *batch
	sealed  []*batch
	closing bool
	// drained is set when the sender returned because the queue was
	// closing and empty; an owned append then starts a new one.
	drained  bool
	inFlight int
	// free holds record slices of acknowledged batches for new batches
	// (at most maxFree). A per-queue list, not a sync.Pool: the pool was
	// emptied by every other GC cycle and missed on most batches.
	free [][]Record
	// scratch is the sender's reusable encode state (sender goroutine only).
	scratch encodeScratch
	// progress is when the queue last moved: unix nanos of the last batch
	// resolved, or of the append that found it empty (see Stalled).
	progress atomic.Int64
}

// maxFree bounds the recycled record slices kept per partition.
const maxFree = 2

type batch struct {
	records []Record
	bytes   int
	created time.Time
}

// append adds recs to the open batch, sealing batches at maxBytes. Once
// the queue is closing it takes none and returns taken false (its sender
// may already have returned), unless owned: records the producer already
// owns (moved from a partition the topic lost, by a sender during the
// drain) are always taken, and restart then reports that the queue's
// sender had returned and must be started again.
func (q *partitionQueue) append(recs []Record, maxBytes int, owned bool) (taken, restart bool) {
	q.mu.Lock()
	if q.closing && !owned {
		q.mu.Unlock()
		return false, false
	}
	restart, q.drained = q.drained, false
	if q.open == nil && len(q.sealed) == 0 && q.inFlight == 0 {
		q.progress.Store(time.Now().UnixNano())
	}
	notify := false
	for i := range recs {
		sz := recs[i].size()
		if q.open != nil && q.open.bytes+sz > maxBytes && len(q.open.records) > 0 {
			q.sealed = append(q.sealed, q.open)
			q.open = nil
			notify = true
		}
		if q.open == nil {
			var rs []Record
			if n := len(q.free); n > 0 {
				rs, q.free[n-1] = q.free[n-1], nil
				q.free = q.free[:n-1]
			} else {
				rs = newRecordSlice(len(recs)-i, maxBytes/sz)
			}
			q.open = &batch{created: time.Now(), records: rs}
			notify = true
		}
		q.open.records = append(q.open.records, recs[i])
		q.open.bytes += sz
	}
	q.mu.Unlock()
	if notify {
		q.signal()
	}
	return true, restart
}

// newRecordSlice returns an empty slice for a new batch when no recycled
// one is free: sized for the records at hand (n, at least 64) but never
// beyond what the batch can hold (limit). Sizing every new batch for a full
// batch cost 560 KB per batch when a live file's batches close on linger
// with a few records each; slices grow, and recycled ones keep their size.
func newRecordSlice(n, limit int) []Record {
	return make([]Record, 0, min(max(n, 64), max(limit, 1), 1<<14))
}

// recycle gives the record slice of a fully resolved batch back to the
// queue (growing a fresh slice per batch was a quarter of the agent's
// allocated bytes). Nothing may reference b.records afterwards.
func (q *partitionQueue) recycle(b *batch) {
	clear(b.records) // drop the values and acks
	rs := b.records[:0]
	b.records = nil
	q.mu.Lock()
	if len(q.free) < maxFree {
		q.free = append(q.free, rs)
	}
	q.mu.Unlock()
}

func (q *partitionQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *partitionQueue) close() {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	q.signal()
}

// pending counts records not yet acknowledged (queued or in flight).
func (q *partitionQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.inFlight
	if q.open != nil {
		n += len(q.open.records)
	}
	for _, b := range q.sealed {
		n += len(b.records)
	}
	return n
}

// next blocks until a batch is ready: a sealed one, or the open one once
// linger has passed (at once when closing). It returns nil when the queue
// is closing and empty, or on stop.
func (q *partitionQueue) next(linger time.Duration, stop <-chan struct{}) *batch {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		if len(q.sealed) > 0 {
			b := q.sealed[0]
			q.sealed[0] = nil
			q.sealed = q.sealed[1:]
			q.inFlight = len(b.records)
			q.mu.Unlock()
			return b
		}
		wait := time.Hour
		if q.open != nil && len(q.open.records) > 0 {
			age := time.Since(q.open.created)
			if q.closing || age >= linger {
				b := q.open
				q.open = nil
				q.inFlight = len(b.records)
				q.mu.Unlock()
				return b
			}
			wait = linger - age
		} else if q.closing {
			q.drained = true
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-q.wake:
		case <-timer.C:
		case <-stop:
			return nil
		}
	}
}

func (q *partitionQueue) sent() {
	q.mu.Lock()
	q.inFlight = 0
	q.mu.Unlock()
	q.progress.Store(time.Now().UnixNano())
}
