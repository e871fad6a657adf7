package decode

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/logship/logship/internal/config"
)

// multiline is a pipeline whose events start with "2026-".
var multiline = config.Pipeline{Multiline: config.Multiline{StartPattern: `^2026-`}}

// TestRunCancelledAbandonsPending: a reload cancels a multiline pipeline
// with an event still pending (its timeout not reached). Run must abandon
// its acks — budget back, checkpoint before the event so the successor reads
// it again — not leave them pending forever.
func TestRunCancelledAbandonsPending(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pc      config.Pipeline
		text    []string
		shipped int // the first lines, forming the events shipped before the pending one
	}{
		{"multiline", multiline, []string{"2026-01 a", " at x", "2026-02 b", " at y"}, 2},
		{"cri", config.Pipeline{Format: "cri"}, []string{ts1 + " stdout F a", ts1 + " stdout P b"}, 1},
		{"docker", config.Pipeline{Format: "docker"}, []string{dockerLine(t, "a\n", "stdout"), dockerLine(t, "b", "stdout")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc := tc.pc
			pc.Multiline.Timeout = time.Hour
			r := newRig(t, pc, "/x/a.log")
			r.emit(tc.text[:tc.shipped]...)
			shippedEnd := r.end
			r.emit(tc.text[tc.shipped:]...)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.d.Run(ctx) }()
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v", err)
			}
			if u, p := r.budget.InUse(), r.tr.Pending(); u != 0 || p != 0 {
				t.Fatalf("after Run returned: budget in use %d, pending %d; want 0 0", u, p)
			}
			if c := r.tr.Committed(); c != shippedEnd {
				t.Fatalf("committed %d, want %d: the end of the shipped events, never inside the abandoned one (end %d)", c, shippedEnd, r.end)
			}
		})
	}
}

// TestEmitCancelledDownstreamAbandonsPending: Emit blocked downstream (topic
// metadata unavailable) when the pipeline is cancelled. The completed
// events are the downstream sink's to abandon; the event still pending in
// the decoder, opened by the same call, is the decoder's.
func TestEmitCancelledDownstreamAbandonsPending(t *testing.T) {
	r := newRig(t, multiline, "/x/a.log")
	r.sink.block = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	lines := r.lines("2026-01 a", " at x", "2026-02 b", " at y")
	go func() { done <- r.d.Emit(ctx, r.src, lines) }()
	select {
	case <-r.sink.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("Emit never reached the downstream sink")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Emit = %v, want context.Canceled", err)
	}
	if u, p, c := r.budget.InUse(), r.tr.Pending(), r.tr.Committed(); u != 0 || p != 0 || c != 0 {
		t.Fatalf("after a cancelled Emit: budget in use %d, pending %d, committed %d; want 0 0 0", u, p, c)
	}
}

// TestEmitAfterCancelAbandons: a reader's Emit that lands after Run has
// abandoned the file's pending event (the decoder stopped) must not ship the
// rest of that event as an event of its own (seen in F33: the F half of a
// CRI line shipped alone, and the whole line again by the successor). Its
// lines are abandoned too and Emit reports the context's error.
func TestEmitAfterCancelAbandons(t *testing.T) {
	r := newRig(t, config.Pipeline{Format: "cri"}, "/x/a.log")
	r.emit(ts1 + " stdout P a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.d.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if err := r.d.Emit(ctx, r.src, r.lines(ts1+" stdout F b", ts1+" stdout F c")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Emit = %v, want context.Canceled", err)
	}
	if got := r.sink.messages(); len(got) != 0 {
		t.Fatalf("shipped %q after the stop, want nothing", got)
	}
	if u, p, c := r.budget.InUse(), r.tr.Pending(), r.tr.Committed(); u != 0 || p != 0 || c != 0 {
		t.Fatalf("after Emit on a cancelled context: budget in use %d, pending %d, committed %d; want 0 0 0", u, p, c)
	}
}
