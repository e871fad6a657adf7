package checkpoint

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestTrackerTable(t *testing.T) {
	// Records end at 10, 20, ..., n*10; acks lists record indexes in the
	// order they are acknowledged; want is Committed after each ack.
	cases := []struct {
		name  string
		start int64
		n     int
		acks  []int
		want  []int64
	}{
		{"in order", 0, 3, []int{0, 1, 2}, []int64{10, 20, 30}},
		{"reverse", 0, 3, []int{2, 1, 0}, []int64{0, 0, 30}},
		{"middle first", 0, 3, []int{1, 0, 2}, []int64{0, 20, 30}},
		{"gap", 0, 4, []int{0, 2, 3, 1}, []int64{10, 10, 10, 40}},
		{"start offset", 100, 2, []int{1, 0}, []int64{100, 120}},
		{"double ack ignored", 0, 3, []int{1, 1, 0, 0, 2}, []int64{0, 0, 20, 20, 30}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBudget(1 << 20)
			tr := NewTracker(tc.start, b)
			acks := make([]Ack, tc.n)
			for i := range acks {
				if err := b.Acquire(t.Context(), 5); err != nil {
					t.Fatal(err)
				}
				acks[i] = tr.Add(tc.start+int64(i+1)*10, 5)
			}
			if tr.Committed() != tc.start {
				t.Fatalf("Committed before acks = %d, want %d", tr.Committed(), tc.start)
			}
			for i, a := range tc.acks {
				acks[a].Done()
				if got := tr.Committed(); got != tc.want[i] {
					t.Fatalf("after ack #%d (record %d): Committed = %d, want %d", i, a, got, tc.want[i])
				}
			}
			if tr.Pending() != 0 || tr.Window() != 0 || b.InUse() != 0 {
				t.Fatalf("Pending=%d Window=%d InUse=%d, want 0", tr.Pending(), tr.Window(), b.InUse())
			}
		})
	}
}

func TestTrackerFailedBatch(t *testing.T) {
	// Records 0..9, each 100 bytes ending at (i+1)*100. Records 3 and 4 are
	// in a batch that failed and is being retried; the others are acked.
	b := NewBudget(1000)
	tr := NewTracker(0, b)
	acks := make([]Ack, 10)
	for i := range acks {
		if err := b.Acquire(t.Context(), 100); err != nil {
			t.Fatal(err)
		}
		acks[i] = tr.Add(int64(i+1)*100, 100)
	}
	for i, a := range acks {
		if i != 3 && i != 4 {
			a.Done()
		}
	}
	if got := tr.Committed(); got != 300 {
		t.Fatalf("Committed with batch {3,4} withheld = %d, want 300", got)
	}
	if tr.Pending() != 2 || tr.Window() != 7 {
		t.Fatalf("Pending=%d Window=%d, want 2 and 7", tr.Pending(), tr.Window())
	}
	// The budget comes back with the committed offset: the withheld batch
	// holds its own bytes and those of every record after it (their memory
	// is shared with it: one read's lines are one allocation).
	if got := b.InUse(); got != 700 {
		t.Fatalf("InUse = %d, want 700 (the withheld batch and the records after it)", got)
	}
	select {
	case <-tr.Drained():
		t.Fatal("Drained closed with records pending")
	default:
	}
	drained := tr.Drained()
	acks[4].Done()
	if got := tr.Committed(); got != 300 {
		t.Fatalf("Committed after re-sent record 4 = %d, want 300", got)
	}
	if got := b.InUse(); got != 700 {
		t.Fatalf("InUse after re-sent record 4 = %d, want 700", got)
	}
	acks[3].Done()
	if got := tr.Committed(); got != 1000 {
		t.Fatalf("Committed after the batch succeeded = %d, want 1000", got)
	}
	if got := b.InUse(); got != 0 {
		t.Fatalf("InUse after the batch succeeded = %d, want 0", got)
	}
	select {
	case <-drained:
	default:
		t.Fatal("Drained not closed after the last ack")
	}
	if b.InUse() != 0 {
		t.Fatalf("InUse = %d, want 0", b.InUse())
	}
}

// TestTrackerRandomOrder is the property test: with random line sizes and
// random acknowledgement order, Committed is always exactly the end of the
// longest acknowledged prefix (so never past an unacknowledged record) and
// reaches the last end once everything is acknowledged.
func TestTrackerRandomOrder(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	for round := range 300 {
		start := rng.Int64N(1000)
		n := 1 + rng.IntN(200)
		tr := NewTracker(start, nil)
		ends := make([]int64, n)
		acks := make([]Ack, n)
		end := start
		for i := range n {
			end += rng.Int64N(50) // zero-length parts allowed
			ends[i] = end
			acks[i] = tr.Add(end, rng.Int64N(100))
		}
		acked := make([]bool, n)
		order := rng.Perm(n)
		for k, i := range order {
			acks[i].Done()
			acked[i] = true
			if rng.IntN(10) == 0 {
				acks[order[rng.IntN(k+1)]].Done() // a duplicate
			}
			want := start
			for j := 0; j < n && acked[j]; j++ {
				want = ends[j]
			}
			if got := tr.Committed(); got != want {
				t.Fatalf("seed %d round %d: after %d acks Committed = %d, want %d", seed, round, k+1, got, want)
			}
		}
		if tr.Committed() != ends[n-1] || tr.Pending() != 0 {
			t.Fatalf("seed %d round %d: Committed = %d (want %d), Pending = %d", seed, round, tr.Committed(), ends[n-1], tr.Pending())
		}
	}
}

func TestTrackerDoubleAck(t *testing.T) {
	b := NewBudget(100)
	tr := NewTracker(0, b)
	before := DoubleAcks()
	if err := b.Acquire(t.Context(), 20); err != nil {
		t.Fatal(err)
	}
	a1 := tr.Add(10, 10)
	a2 := tr.Add(20, 10)
	a2.Done()
	a2.Done() // within the window
	a1.Done()
	a1.Done() // already committed and popped
	var zero Ack
	zero.Done() // no-op, not counted
	if got := tr.DoubleAcks(); got != 2 {
		t.Fatalf("tracker DoubleAcks = %d, want 2", got)
	}
	if got := DoubleAcks() - before; got != 2 {
		t.Fatalf("package DoubleAcks delta = %d, want 2", got)
	}
	if b.InUse() != 0 || tr.Committed() != 20 {
		t.Fatalf("InUse=%d Committed=%d", b.InUse(), tr.Committed())
	}
	// An Ack never issued by this tracker is ignored too.
	(Ack{t: tr, seq: 99, size: 5}).Done()
	if tr.DoubleAcks() != 3 || b.InUse() != 0 {
		t.Fatalf("unknown seq: DoubleAcks=%d InUse=%d", tr.DoubleAcks(), b.InUse())
	}
}

func TestTrackerPanics(t *testing.T) {
	cases := map[string]func(){
		"decreasing end": func() {
			tr := NewTracker(0, nil)
			tr.Add(10, 1)
			tr.Add(9, 1)
		},
		"end before start": func() { NewTracker(50, nil).Add(49, 1) },
		"negative size":    func() { NewTracker(0, nil).Add(1, -1) },
		"negative start":   func() { NewTracker(-1, nil) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
	// Equal ends are fine.
	tr := NewTracker(5, nil)
	tr.Add(5, 0).Done()
	tr.Add(5, 0).Done()
	if tr.Committed() != 5 {
		t.Fatalf("Committed = %d", tr.Committed())
	}
}

func TestTrackerDrained(t *testing.T) {
	tr := NewTracker(0, nil)
	select {
	case <-tr.Drained():
	default:
		t.Fatal("Drained of an empty tracker not closed")
	}
	a := tr.Add(1, 1)
	d1 := tr.Drained()
	b := tr.Add(2, 1)
	a.Done()
	select {
	case <-d1:
		t.Fatal("Drained closed with one record pending")
	default:
	}
	b.Done()
	select {
	case <-d1:
	default:
		t.Fatal("Drained not closed")
	}
	// Reusable after draining.
	c := tr.Add(3, 1)
	d2 := tr.Drained()
	select {
	case <-d2:
		t.Fatal("new Drained channel already closed")
	default:
	}
	c.Done()
	<-d2
}

func TestTrackerRingGrowAndShrink(t *testing.T) {
	tr := NewTracker(0, nil)
	for round := range 3 {
		acks := make([]Ack, 5000)
		for i := range acks {
			acks[i] = tr.Add(int64(round*5000+i+1), 1)
		}
		// Ack in an order that wraps the ring: second half, then first.
		for _, a := range acks[2500:] {
			a.Done()
		}
		for _, a := range acks[:2500] {
			a.Done()
		}
		if tr.Committed() != int64((round+1)*5000) || tr.Window() != 0 {
			t.Fatalf("round %d: Committed=%d Window=%d", round, tr.Committed(), tr.Window())
		}
		tr.mu.Lock()
		capacity := len(tr.ring)
		tr.mu.Unlock()
		if capacity > maxIdleRing {
			t.Fatalf("ring of %d entries kept after draining", capacity)
		}
	}
}

// TestTrackerConcurrent runs the realistic shape under -race: one reader
// adds, many senders acknowledge in arbitrary order (some twice), and an
// observer checks that Committed never decreases and never passes an
// unacknowledged record.
func TestTrackerConcurrent(t *testing.T) {
	const (
		records = 20000
		senders = 16
	)
	b := NewBudget(64 << 10)
	tr := NewTracker(0, b)
	var ackedMu sync.Mutex
	acked := make([]bool, records+1) // by end offset (record i ends at i)

	ch := make(chan Ack, 256)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() { // exits when ch is closed and drained
			rng := rand.New(rand.NewPCG(uint64(s), 1))
			var held []Ack
			flush := func() {
				rng.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
				for _, a := range held {
					ackedMu.Lock()
					acked[a.seq+1] = true // seq i is the record ending at i+1
					ackedMu.Unlock()
					a.Done()
					if rng.IntN(50) == 0 {
						a.Done()
					}
				}
				held = held[:0]
			}
			// Like the producer's linger, a sender flushes what it holds
			// when nothing more comes: the budget comes back only with the
			// committed offset, so holding the oldest record forever would
			// stall the adder.
			linger := time.NewTimer(time.Millisecond)
			defer linger.Stop()
			for {
				select {
				case a, ok := <-ch:
					if !ok {
						flush()
						return
					}
					held = append(held, a)
					if len(held) >= 1+rng.IntN(32) {
						flush()
					}
				case <-linger.C:
					flush()
				}
				linger.Reset(time.Millisecond)
			}
		})
	}
	stop := make(chan struct{})
	observed := make(chan error, 1)
	go func() { // exits when stop is closed
		var last int64
		for {
			select {
			case <-stop:
				observed <- nil
				return
			default:
			}
			c := tr.Committed()
			if c < last {
				observed <- fmt.Errorf("Committed went back from %d to %d", last, c)
				return
			}
			ackedMu.Lock()
			for e := last + 1; e <= c; e++ {
				if !acked[e] {
					ackedMu.Unlock()
					observed <- fmt.Errorf("Committed %d passes unacknowledged record ending at %d", c, e)
					return
				}
			}
			ackedMu.Unlock()
			last = c
		}
	}()
	for i := 1; i <= records; i++ {
		if err := b.Acquire(t.Context(), 10); err != nil {
			t.Fatal(err)
		}
		ch <- tr.Add(int64(i), 10)
	}
	close(ch)
	wg.Wait()
	select {
	case <-tr.Drained():
	case <-time.After(10 * time.Second):
		t.Fatal("not drained")
	}
	close(stop)
	if err := <-observed; err != nil {
		t.Fatal(err)
	}
	if tr.Committed() != records || tr.Pending() != 0 || b.InUse() != 0 {
		t.Fatalf("Committed=%d Pending=%d InUse=%d", tr.Committed(), tr.Pending(), b.InUse())
	}
}

func BenchmarkTrackerAddAck(b *testing.B) {
	b.Run("in order", func(b *testing.B) {
		budget := NewBudget(1 << 30)
		tr := NewTracker(0, budget)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = budget.Acquire(b.Context(), 100)
			tr.Add(int64(i+1)*100, 100).Done()
		}
	})
	b.Run("window 1024 reversed", func(b *testing.B) {
		budget := NewBudget(1 << 30)
		tr := NewTracker(0, budget)
		acks := make([]Ack, 1024)
		var end int64
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			end += 100
			_ = budget.Acquire(b.Context(), 100)
			acks[i%len(acks)] = tr.Add(end, 100)
			if i%len(acks) == len(acks)-1 {
				for j := len(acks) - 1; j >= 0; j-- {
					acks[j].Done()
				}
			}
		}
	})
	b.Run("parallel done", func(b *testing.B) {
		tr := NewTracker(0, NewBudget(1<<30))
		var mu sync.Mutex
		var end int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock() // Add's contract: one adder at a time
				end++
				a := tr.Add(end, 0)
				mu.Unlock()
				a.Done()
			}
		})
	})
}

func TestTrackerCommittedAt(t *testing.T) {
	tr := NewTracker(0, nil)
	if !tr.CommittedAt().IsZero() {
		t.Fatal("CommittedAt set before any acknowledgement")
	}
	a, b := tr.Add(10, 0), tr.Add(20, 0)
	b.Done() // behind a pending record: the checkpoint does not move
	if !tr.CommittedAt().IsZero() {
		t.Fatal("CommittedAt moved without the committed offset moving")
	}
	before := time.Now()
	a.Done()
	if at := tr.CommittedAt(); at.Before(before) || tr.Committed() != 20 {
		t.Fatalf("CommittedAt %v (before %v), Committed %d", at, before, tr.Committed())
	}
}

// TestTrackerAbandon: an abandoned record gives its bytes back and counts as
// resolved (Drained fires), but the committed offset stops before it for
// good, even when later records are acknowledged; resolving it again, either
// way, is a counted double.
func TestTrackerAbandon(t *testing.T) {
	b := NewBudget(100)
	tr := NewTracker(0, b)
	if err := b.Acquire(t.Context(), 40); err != nil {
		t.Fatal(err)
	}
	a1 := tr.Add(10, 10)
	a2 := tr.Add(20, 10)
	a3 := tr.Add(30, 10)
	a4 := tr.Add(40, 10)
	j, ok := a2.Join(a3)
	if !ok {
		t.Fatal("Join failed")
	}
	beforeAbandoned, beforeDoubles := Abandoned(), DoubleAcks()
	a1.Done()
	j.Abandon()
	a4.Done()
	select {
	case <-tr.Drained():
	default:
		t.Fatal("Drained not closed with every record resolved")
	}
	if tr.Pending() != 0 || b.InUse() != 0 {
		t.Fatalf("Pending=%d InUse=%d, want 0 0", tr.Pending(), b.InUse())
	}
	if got := tr.Committed(); got != 10 {
		t.Fatalf("Committed = %d, want 10 (before the abandoned records)", got)
	}
	if got := Abandoned() - beforeAbandoned; got != 2 {
		t.Fatalf("Abandoned delta = %d, want 2", got)
	}
	a2.Done()
	a3.Abandon()
	a4.Abandon()
	if got := tr.DoubleAcks(); got != 3 {
		t.Fatalf("DoubleAcks = %d, want 3", got)
	}
	if got := DoubleAcks() - beforeDoubles; got != 3 {
		t.Fatalf("package DoubleAcks delta = %d, want 3", got)
	}
	if b.InUse() != 0 || tr.Committed() != 10 {
		t.Fatalf("after doubles: InUse=%d Committed=%d", b.InUse(), tr.Committed())
	}
	var zero Ack
	zero.Abandon() // no-op, not counted
	if tr.DoubleAcks() != 3 {
		t.Fatal("zero Ack.Abandon counted")
	}
}

// TestTrackerAbandonReleasesWhatNeverCommits: budget bytes go back when the
// committed offset passes a record (issue 19), and once a record is
// abandoned nothing after it ever commits, so the bytes of the records
// resolved after it — acknowledged before or after the abandon — go back
// at once instead of being held for the tracker's life.
func TestTrackerAbandonReleasesWhatNeverCommits(t *testing.T) {
	b := NewBudget(1000)
	b.Charge(400)
	tr := NewTracker(0, b)
	first, held, abandonedAck, before, after := tr.Add(10, 100), tr.Add(20, 100), tr.Add(30, 100), tr.Add(40, 50), tr.Add(50, 50)
	before.Done() // waits behind held and the soon abandoned record
	held.Done()   // waits behind first
	if b.InUse() != 400 {
		t.Fatalf("InUse %d before anything committed, want 400", b.InUse())
	}
	abandonedAck.Abandon()
	if b.InUse() != 250 || tr.Committed() != 0 {
		t.Fatalf("after Abandon: InUse %d committed %d, want 250 (the abandoned and the later acked record released) and 0", b.InUse(), tr.Committed())
	}
	first.Done()
	if b.InUse() != 50 || tr.Committed() != 20 {
		t.Fatalf("after the first Done: InUse %d committed %d, want 50 and 20 (stops before the abandoned record)", b.InUse(), tr.Committed())
	}
	after.Done()
	if b.InUse() != 0 || tr.Committed() != 20 || tr.Pending() != 0 {
		t.Fatalf("at the end: InUse %d committed %d pending %d, want 0 20 0", b.InUse(), tr.Committed(), tr.Pending())
	}
}
