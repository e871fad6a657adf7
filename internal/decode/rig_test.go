package decode

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/tailer"
	"github.com/prometheus/client_golang/prometheus"
)

// rig feeds lines of one file through a Decoder into a recording sink, with
// a real tracker and budget so that every ack is accounted for.
type rig struct {
	t      testing.TB
	d      *Decoder
	sink   *recSink
	src    *tailer.Source
	tr     *checkpoint.Tracker
	budget *checkpoint.Budget
	reg    *prometheus.Registry
	end    int64
}

// recSink records events; with hold set it keeps their acks for the test
// to resolve, else it resolves them at once. With block set it waits for
// ctx instead, then abandons the events' acks as the Sink contract asks.
type recSink struct {
	mu      sync.Mutex
	hold    bool
	block   bool
	blocked chan struct{} // receives when a blocked EmitEvents waits
	evs     []Event
	acks    []checkpoint.Ack
}

func (s *recSink) EmitEvents(ctx context.Context, _ *tailer.Source, evs []Event) error {
	if s.block {
		select {
		case s.blocked <- struct{}{}:
		default:
		}
		<-ctx.Done()
		for _, ev := range evs {
			ev.Ack.Abandon()
		}
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		ev.Message = append([]byte(nil), ev.Message...)
		s.evs = append(s.evs, ev)
		if s.hold {
			s.acks = append(s.acks, ev.Ack)
		} else {
			ev.Ack.Done()
		}
	}
	return nil
}

func (s *recSink) events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.evs...)
}

func (s *recSink) messages() []string {
	var out []string
	for _, ev := range s.events() {
		out = append(out, string(ev.Message))
	}
	return out
}

func newRig(t testing.TB, pc config.Pipeline, path string) *rig {
	t.Helper()
	if pc.Name == "" {
		pc.Name = "test"
	}
	if pc.MaxLineBytes == 0 {
		pc.MaxLineBytes = config.DefaultMaxLineBytes
	}
	if pc.Multiline.StartPattern != "" && pc.Multiline.MaxLines == 0 {
		pc.Multiline.MaxLines = config.DefaultMultilineMaxLines
	}
	r := &rig{t: t, sink: &recSink{blocked: make(chan struct{}, 1)}, src: &tailer.Source{Pipeline: pc.Name, Path: path},
		budget: checkpoint.NewBudget(1 << 30), reg: prometheus.NewRegistry()}
	r.tr = checkpoint.NewTracker(0, r.budget)
	d, err := New(Options{Pipeline: pc, Next: r.sink, Registerer: r.reg})
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	t.Cleanup(r.stopped)
	return r
}

// stopped stops the decoder as a reload or shutdown does (Run with its
// context done) and checks that every line's ack was resolved exactly once:
// the budget is back to 0, nothing is pending, no double resolution.
func (r *rig) stopped() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.d.Run(ctx); !errors.Is(err, context.Canceled) {
		r.t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
	if u, p, d := r.budget.InUse(), r.tr.Pending(), r.tr.DoubleAcks(); u != 0 || p != 0 || d != 0 {
		r.t.Errorf("after stop: budget in use %d, pending %d, double acks %d; want 0 0 0", u, p, d)
	}
}

// lines builds tailer lines (each registered with the tracker) from texts,
// as the tailer does: a text longer than max_line_bytes is cut into parts
// (split) or cut short (truncate).
func (r *rig) lines(texts ...string) []tailer.Line {
	out := make([]tailer.Line, 0, len(texts))
	add := func(ln tailer.Line, size int64) {
		if err := r.budget.Acquire(context.Background(), size); err != nil {
			r.t.Fatal(err)
		}
		ln.Ack = r.tr.Add(ln.End, size)
		out = append(out, ln)
	}
	for _, s := range texts {
		switch {
		case len(s) <= r.d.max:
		case r.d.truncate:
			r.end += int64(len(s)) + 1
			add(tailer.Line{Data: []byte(s[:r.d.max]), End: r.end, Truncated: true}, int64(r.d.max))
			continue
		default:
			part := 0
			for len(s) > r.d.max {
				part++
				r.end += int64(r.d.max)
				add(tailer.Line{Data: []byte(s[:r.d.max]), End: r.end, Part: part}, int64(r.d.max))
				s = s[r.d.max:]
			}
			r.end += int64(len(s)) + 1
			add(tailer.Line{Data: []byte(s), End: r.end, Part: part + 1, Last: true}, int64(len(s))+1)
			continue
		}
		r.end += int64(len(s)) + 1
		add(tailer.Line{Data: []byte(s), End: r.end}, int64(len(s))+1)
	}
	return out
}

func (r *rig) emit(texts ...string) {
	r.t.Helper()
	if err := r.d.Emit(context.Background(), r.src, r.lines(texts...)); err != nil {
		r.t.Fatal(err)
	}
}

// flushAll flushes every pending event as if the timeout had passed.
func (r *rig) flushAll() {
	r.t.Helper()
	if err := r.d.flushQuiet(context.Background(), time.Now().Add(time.Hour)); err != nil {
		r.t.Fatal(err)
	}
}

// settled checks that every line's ack was resolved exactly once and the
// checkpoint reached the end of the file.
func (r *rig) settled() {
	r.t.Helper()
	if p, d, c, u := r.tr.Pending(), r.tr.DoubleAcks(), r.tr.Committed(), r.budget.InUse(); p != 0 || d != 0 || c != r.end || u != 0 {
		r.t.Fatalf("pending %d, double acks %d, committed %d of %d, budget in use %d", p, d, c, r.end, u)
	}
}

func (r *rig) counter(name string) float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	r.t.Fatalf("metric %s not registered", name)
	return 0
}
