package checkpoint

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// doubleAcks counts, process-wide, Ack.Done calls that were ignored because
// the token had already been resolved (or was unknown to its tracker).
var doubleAcks atomic.Uint64

// DoubleAcks reports how many Ack.Done calls were ignored process-wide
// because their token had already been resolved. Any non-zero value is a bug
// in an ack path; export it as a counter.
func DoubleAcks() uint64 { return doubleAcks.Load() }

// abandoned counts, process-wide, records resolved by Ack.Abandon.
var abandoned atomic.Uint64

// Abandoned reports how many records were abandoned process-wide (resolved
// without a broker acknowledgement, to be read again; see Ack.Abandon).
func Abandoned() uint64 { return abandoned.Load() }

// closedChan is returned by Drained when nothing is pending.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

const (
	minRing     = 16
	maxIdleRing = 1024 // ring capacity kept when the window empties
)

// entry is one registered record in the pending window. An abandoned
// entry is resolved (acked is set too) but never committed: the committed
// offset stops before it for the rest of the tracker's life.
type entry struct {
	end       int64
	size      int64 // budget bytes not yet released
	acked     bool
	abandoned bool
}

// Tracker follows the pending lines of one file generation. Add is called
// from the file's single reader goroutine; Ack.Done from any goroutine.
//
// The pending window is a ring of {end, size, acked} entries in file order;
// sequence numbers map to ring slots, so Add and Done are O(1) amortised and
// each takes one short mutex section. The committed offset advances only
// across the contiguous acknowledged prefix, and a record's budget bytes go
// back with it: a withheld acknowledgement (a batch being retried, a
// partition behind the others) holds the checkpoint and the budget of the
// records after it. Their memory is held too — the lines of one read share
// one allocation, and round-robin partitioning spreads them over every
// partition — so releasing at each acknowledgement let the heap grow to
// several times the budget while one partition lagged (issue 19).
//
// Once a record is abandoned the committed offset never passes it, so the
// bytes of every resolved record from the first abandoned one on go back at
// once: nothing after it will ever commit.
type Tracker struct {
	budget *Budget

	mu        sync.Mutex
	ring      []entry // len is 0 or a power of two
	head      int     // ring index of the oldest entry (seq headSeq)
	n         int     // entries in the window (acked or not), oldest first
	headSeq   uint64
	nextSeq   uint64
	lastEnd   int64
	committed int64
	advanced  time.Time     // when committed last moved forward
	pending   int           // entries not yet acknowledged
	drained   chan struct{} // non-nil while someone waits for pending == 0
	doubles   uint64
	// stuck is set once a record was abandoned; stuckSeq is the first
	// abandoned record's seq. The committed offset stays before it.
	stuck    bool
	stuckSeq uint64
}

// NewTracker starts a tracker whose committed offset is start. The bytes of
// committed records are released to budget (which may be nil).
func NewTracker(start int64, budget *Budget) *Tracker {
	if start < 0 {
		panic(fmt.Sprintf("checkpoint: NewTracker(%d): negative offset", start))
	}
	return &Tracker{budget: budget, committed: start, lastEnd: start}
}

// Add registers a record that ends at file offset end and holds size bytes of
// the budget, and returns the token the pipeline must resolve exactly once.
// end must not decrease between calls.
//
// The reader must already hold size bytes of the tracker's budget (Acquire
// before reading); ownership passes to the tracker, which releases them when
// the committed offset moves past the record.
//
// Add panics when end is below the previous end (or below start) or size is
// negative: both are reader bugs that would otherwise move a checkpoint
// backwards or corrupt the budget. Equal ends are allowed (e.g. the parts of
// a split line other than the last may share an offset).
func (t *Tracker) Add(end, size int64) Ack {
	if size < 0 {
		panic(fmt.Sprintf("checkpoint: Tracker.Add(%d, %d): negative size", end, size))
	}
	t.mu.Lock()
	if end < t.lastEnd {
		last := t.lastEnd
		t.mu.Unlock()
		panic(fmt.Sprintf("checkpoint: Tracker.Add(%d): end before previous end %d", end, last))
	}
	if t.n == len(t.ring) {
		t.grow()
	}
	t.ring[(t.head+t.n)&(len(t.ring)-1)] = entry{end: end, size: size}
	t.n++
	t.pending++
	t.lastEnd = end
	seq := t.nextSeq
	t.nextSeq++
	t.mu.Unlock()
	return Ack{t: t, seq: seq, size: size}
}

// grow doubles the ring, keeping entries in order from index 0.
func (t *Tracker) grow() {
	size := max(len(t.ring)*2, minRing)
	ring := make([]entry, size)
	if t.n > 0 {
		mask := len(t.ring) - 1
		for i := 0; i < t.n; i++ {
			ring[i] = t.ring[(t.head+i)&mask]
		}
	}
	t.ring = ring
	t.head = 0
}

// done resolves the records seq..seq+more, all or none: acknowledged, or
// abandoned when abandon is set. It returns the budget bytes to release now
// (the caller releases them): those of the records the committed offset
// moved past, and of resolved records from the first abandoned one on,
// which will never commit. ok is false when any of them was already
// resolved or is unknown; nothing is resolved then.
func (t *Tracker) done(seq, more uint64, abandon bool) (release int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq < t.headSeq || seq+more >= t.nextSeq {
		// Below the window: resolved and committed already. At or above
		// nextSeq: never issued.
		t.doubles++
		return 0, false
	}
	mask := len(t.ring) - 1
	first := t.head + int(seq-t.headSeq)
	for k := 0; k <= int(more); k++ {
		if t.ring[(first+k)&mask].acked {
			t.doubles++
			return 0, false
		}
	}
	for k := 0; k <= int(more); k++ {
		e := &t.ring[(first+k)&mask]
		e.acked, e.abandoned = true, abandon
	}
	t.pending -= int(more) + 1
	switch {
	case abandon && (!t.stuck || seq < t.stuckSeq):
		// From the first abandoned record on, nothing commits: release
		// every resolved record there, including acknowledged ones that
		// were waiting for an earlier record.
		t.stuck, t.stuckSeq = true, seq
		for k := int(seq - t.headSeq); k < t.n; k++ {
			if e := &t.ring[(t.head+k)&mask]; e.acked {
				release += e.size
				e.size = 0
			}
		}
	case t.stuck && seq > t.stuckSeq:
		for k := 0; k <= int(more); k++ {
			e := &t.ring[(first+k)&mask]
			release += e.size
			e.size = 0
		}
	}
	if seq == t.headSeq {
		if h := t.ring[t.head]; h.acked && !h.abandoned {
			t.advanced = time.Now()
		}
		for t.n > 0 && t.ring[t.head].acked && !t.ring[t.head].abandoned {
			t.committed = t.ring[t.head].end
			release += t.ring[t.head].size
			t.ring[t.head] = entry{}
			t.head = (t.head + 1) & mask
			t.n--
			t.headSeq++
		}
		if t.n == 0 && len(t.ring) > maxIdleRing {
			t.ring, t.head = nil, 0
		}
	}
	if t.pending == 0 && t.drained != nil {
		close(t.drained)
		t.drained = nil
	}
	return release, true
}

// Committed is the end offset of the longest acknowledged contiguous prefix.
// Safe from any goroutine.
func (t *Tracker) Committed() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.committed
}

// CommittedAt is when the committed offset last moved forward: the age of
// the file's last acknowledgement as far as its checkpoint is concerned.
// Zero until it first moves. Safe from any goroutine.
func (t *Tracker) CommittedAt() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.advanced
}

// Pending is the number of records added and not yet acknowledged.
// Safe from any goroutine.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending
}

// Window is the number of records added and not yet committed: the pending
// ones plus those acknowledged behind a pending one. Its memory is about 16
// bytes per record; readers may use it to cap how far a single withheld
// acknowledgement lets them run ahead. Safe from any goroutine.
func (t *Tracker) Window() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// DoubleAcks reports how many Done calls on this tracker's tokens were
// ignored because the token had already been resolved.
func (t *Tracker) DoubleAcks() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.doubles
}

// Drained returns a channel closed whenever Pending()==0 at the time of the
// call (a fresh channel per call; closed immediately if already drained).
//
// Callers that ask while the same records are pending may share one channel;
// it is closed the first time Pending reaches 0 after the call. Records added
// after the call delay it until they are acknowledged too.
func (t *Tracker) Drained() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == 0 {
		return closedChan
	}
	if t.drained == nil {
		t.drained = make(chan struct{})
	}
	return t.drained
}

// Ack is the acknowledgement token of one record, or of a run of
// consecutive records joined with Join. The zero Ack is a no-op.
type Ack struct {
	t    *Tracker
	seq  uint64 // first record covered
	more uint64 // records covered after seq (0 for a single record)
	size int64
}

// Join returns one token that resolves both a and b, for a record built from
// several consecutive lines (a joined partial or multiline event). b must be
// the token issued by the same tracker right after the last record a covers;
// the joined token then resolves all of them at once, so the committed
// offset moves past the whole run in one step and never stops inside it.
// A zero Ack joins as the identity.
//
// ok is false when a and b are not consecutive tokens of one tracker (a
// different file generation, a gap): nothing is joined and both must still be
// resolved on their own. Join allocates nothing.
func (a Ack) Join(b Ack) (joined Ack, ok bool) {
	switch {
	case b.t == nil:
		return a, true
	case a.t == nil:
		return b, true
	case a.t != b.t || b.seq != a.seq+a.more+1:
		return a, false
	}
	a.more += b.more + 1
	a.size += b.size
	return a, true
}

// Records is the number of records the token resolves (0 for the zero Ack).
func (a Ack) Records() int {
	if a.t == nil {
		return 0
	}
	return int(a.more) + 1
}

// Done marks the record (or every record of a joined token) acknowledged by
// the broker. Calling Done twice on the same token is a bug: the second call
// is ignored and counted; so is a joined token overlapping one already
// resolved, and then none of its records is resolved by it.
//
// Done may be called from any goroutine, concurrently with Add and other
// Done calls. It never blocks beyond two short mutex sections (tracker, then
// budget). It releases to the budget the bytes of every record the committed
// offset moved past: this record's once every record before it is resolved.
func (a Ack) Done() {
	if a.t == nil {
		return
	}
	a.resolve(false)
}

// Abandon resolves the record (or every record of a joined token) without a
// broker acknowledgement, for a holder that can no longer deliver it: a
// pipeline stopped by a reload or shutdown, a sink that failed. The
// committed offset never moves past an abandoned record — nor, from then
// on, past any later record of the tracker — so the line is read again by
// whoever resumes the file from the committed offset (a reload's successor,
// a restart): never lost, never checkpointed. Its bytes, and those of every
// record resolved after it, go back to the budget at once, since they will
// never commit. Pending drops as with Done, so Drained and a reload's wait
// for acknowledgements do not wait for it.
//
// Every token is resolved exactly once, by Done or by Abandon: a second
// resolution of either kind is ignored and counted like a double Done.
// Abandon may be called from any goroutine; it never blocks beyond two
// short mutex sections.
func (a Ack) Abandon() {
	if a.t == nil {
		return
	}
	a.resolve(true)
}

// resolve is Done (abandon false) or Abandon.
func (a Ack) resolve(abandon bool) {
	release, ok := a.t.done(a.seq, a.more, abandon)
	if !ok {
		doubleAcks.Add(1)
		return
	}
	if abandon {
		abandoned.Add(uint64(a.more) + 1)
	}
	if a.t.budget != nil && release > 0 {
		a.t.budget.Release(release)
	}
}

// Size is the number of budget bytes the records of the token hold.
func (a Ack) Size() int64 { return a.size }
