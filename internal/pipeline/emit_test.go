package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/decode"
	"github.com/logship/logship/internal/producer"
	"github.com/logship/logship/internal/tailer"
)

// fakeProducer stands in for the shared producer: Partitions fails while
// down is set; Append refuses the partitions in closed (as a closing
// producer does) and otherwise keeps the records until ackAll.
type fakeProducer struct {
	mu     sync.Mutex
	down   bool
	parts  int
	closed map[int]bool
	held   []producer.Record
	asked  chan struct{} // receives on every failed Partitions call
}

func (f *fakeProducer) Partitions(ctx context.Context, _ string) (int, error) {
	f.mu.Lock()
	down, n := f.down, f.parts
	f.mu.Unlock()
	if !down {
		return n, nil
	}
	select {
	case f.asked <- struct{}{}:
	default:
	}
	return 0, errors.New("unknown topic or partition")
}

func (f *fakeProducer) Append(_ string, partition int, recs []producer.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed[partition] {
		return producer.ErrClosed
	}
	f.held = append(f.held, recs...)
	return nil
}

func (f *fakeProducer) ackAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.held {
		r.Ack.Done()
	}
	f.held = nil
}

// ackRig is a pipeline over a fakeProducer with a real tracker and budget.
// Its cleanup acknowledges whatever the producer holds and then checks
// that every ack was resolved exactly once: budget back to 0, nothing
// pending, no double resolution.
type ackRig struct {
	t      *testing.T
	p      *Pipeline
	out    *fakeProducer
	budget *checkpoint.Budget
	tr     *checkpoint.Tracker
	end    int64
}

func newAckRig(t *testing.T, pc config.Pipeline, parts int) *ackRig {
	t.Helper()
	pc.Name, pc.Topic = "test", "logs"
	out := &fakeProducer{parts: parts, closed: map[int]bool{}, asked: make(chan struct{}, 1)}
	p, err := New(pc, "host-1", "0123456789abcdef0123456789abcdef", out, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := checkpoint.NewBudget(1 << 20)
	r := &ackRig{t: t, p: p, out: out, budget: b, tr: checkpoint.NewTracker(0, b)}
	t.Cleanup(func() {
		out.ackAll()
		if u, pend, d := b.InUse(), r.tr.Pending(), r.tr.DoubleAcks(); u != 0 || pend != 0 || d != 0 {
			t.Errorf("after the test: budget in use %d, pending %d, double acks %d; want 0 0 0", u, pend, d)
		}
	})
	return r
}

// lines registers n lines with the tracker, holding their bytes.
func (r *ackRig) lines(n int) []tailer.Line {
	out := make([]tailer.Line, n)
	for i := range out {
		data := []byte(fmt.Sprintf("line %d", i))
		size := int64(len(data) + 1)
		if err := r.budget.Acquire(context.Background(), size); err != nil {
			r.t.Fatal(err)
		}
		r.end += size
		out[i] = tailer.Line{Data: data, End: r.end, Ack: r.tr.Add(r.end, size)}
	}
	return out
}

// cancelWhileDown calls emit with a context cancelled while the topic's
// metadata is unavailable and returns its error.
func (r *ackRig) cancelWhileDown(emit func(ctx context.Context) error) error {
	r.out.mu.Lock()
	r.out.down = true
	r.out.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- emit(ctx) }()
	select {
	case <-r.out.asked:
	case <-time.After(10 * time.Second):
		r.t.Fatal("Emit never asked for the topic's partitions")
	}
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		r.t.Fatal("Emit did not return after cancel")
	}
	return nil
}

// TestEmitCancelledWaitingForTopicAbandons: a reload or shutdown during an
// outage cancels Emit while it waits for topic metadata. The lines' acks are
// the pipeline's from the call on: it must abandon them (budget back, the
// checkpoint not moved), not drop them.
func TestEmitCancelledWaitingForTopicAbandons(t *testing.T) {
	t.Run("lines", func(t *testing.T) {
		r := newAckRig(t, config.Pipeline{}, 1)
		lines := r.lines(3)
		err := r.cancelWhileDown(func(ctx context.Context) error { return r.p.Emit(ctx, &tailer.Source{Path: "/a.log"}, lines) })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Emit = %v, want context.Canceled", err)
		}
		if u, c := r.budget.InUse(), r.tr.Committed(); u != 0 || c != 0 {
			t.Fatalf("after a cancelled Emit: budget in use %d, committed %d; want 0 0", u, c)
		}
	})
	t.Run("events", func(t *testing.T) {
		r := newAckRig(t, config.Pipeline{Serializer: "json"}, 1)
		lines := r.lines(2)
		evs := []decode.Event{{Message: lines[0].Data, End: lines[0].End, Ack: lines[0].Ack},
			{Message: lines[1].Data, End: lines[1].End, Ack: lines[1].Ack}}
		err := r.cancelWhileDown(func(ctx context.Context) error { return r.p.EmitEvents(ctx, &tailer.Source{Path: "/a.log"}, evs) })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("EmitEvents = %v, want context.Canceled", err)
		}
		if u, c := r.budget.InUse(), r.tr.Committed(); u != 0 || c != 0 {
			t.Fatalf("after a cancelled EmitEvents: budget in use %d, committed %d; want 0 0", u, c)
		}
	})
}

// TestEmitAppendRefusedAbandonsTheRest: a producer that starts closing
// between two partitions' appends took the first partition's records and
// refuses the others; the refused ones are abandoned, the taken ones stay
// the producer's (resolved once, by it).
func TestEmitAppendRefusedAbandonsTheRest(t *testing.T) {
	r := newAckRig(t, config.Pipeline{Partitioner: "round_robin"}, 2)
	r.out.closed[1] = true
	lines := r.lines(4)
	if err := r.p.Emit(context.Background(), &tailer.Source{Path: "/a.log"}, lines); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("Emit = %v, want ErrClosed", err)
	}
	r.out.mu.Lock()
	taken := len(r.out.held)
	r.out.mu.Unlock()
	if taken != 2 {
		t.Fatalf("producer took %d records, want 2 (partition 0's)", taken)
	}
	r.out.ackAll()
	if pend := r.tr.Pending(); pend != 0 {
		t.Fatalf("pending %d after the producer resolved its records, want 0", pend)
	}
	if c := r.tr.Committed(); c >= r.end {
		t.Fatalf("committed %d covers abandoned lines (end %d)", c, r.end)
	}
}
