package producer

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/logship/logship/internal/agenttest"
	"github.com/logship/logship/internal/checkpoint"
)

// TestRunOwnsSenders: Append only queues; the senders are Run's. Records
// appended before Run starts wait for it and are delivered once it runs;
// a second Run is refused; ending Run's context is a hard stop, after which
// Close returns at once and counts what was never sent.
func TestRunOwnsSenders(t *testing.T) {
	t.Parallel()
	fb := &fakeBroker{}
	p, err := New(Options{Brokers: []string{"127.0.0.1:1"}, Acks: kafka.RequireAll, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p.produceFn = fb.produce
	tr := checkpoint.NewTracker(0, nil)
	if err := p.Append("t", 0, trackedRecords(tr, payload(10, 0), payload(10, 1))); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	waiting := len(p.pending)
	p.mu.Unlock()
	if waiting != 1 {
		t.Fatalf("%d senders waiting for Run after the first Append, want 1 (Append must not start one)", waiting)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Exits when ctx is cancelled below.
	go func() { done <- p.Run(ctx) }()
	agenttest.WaitFor(t, 10*time.Second, "records appended before Run acknowledged once it runs",
		func() bool { return tr.Pending() == 0 })
	if err := p.Run(ctx); err == nil {
		t.Error("second Run returned nil, want an error")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// After Run: a new partition's records are taken but never sent.
	if err := p.Append("t", 1, trackedRecords(checkpoint.NewTracker(0, nil), payload(10, 2))); err != nil {
		t.Fatal(err)
	}
	closed := make(chan int, 1)
	// Exits when Close returns.
	go func() { closed <- p.Close(context.Background()) }()
	select {
	case left := <-closed:
		if left != 1 {
			t.Errorf("Close after Run ended: %d left, want 1", left)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close after Run ended did not return")
	}
}
