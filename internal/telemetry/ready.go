package telemetry

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Readiness decides /readyz from the state of delivery. The agent is not
// ready while
//   - no broker has answered a request for longer than Stall (or none has
//     answered yet): the cluster is unreachable; or
//   - bytes have been waiting for an acknowledgement for longer than Stall
//     and none arrived in that time: delivery is stalled; or
//   - one topic's delivery made no progress for longer than Stall while
//     others may flow (SetStalled): the reason names the topic.
//
// Contact times come from acknowledgements (LastAck) and from the probe
// (RunProbe), so an idle agent stays ready as long as a broker answers.
type Readiness struct {
	stall    time.Duration
	inflight func() int64     // bytes read and not yet acknowledged
	lastAck  func() time.Time // last broker acknowledgement; zero if none
	now      func() time.Time

	stalled func() []string // stalled topics, described; nil: none known

	mu            sync.Mutex
	lastContact   time.Time // last successful probe
	waitingSince  time.Time // when inflight was last seen going from 0 to > 0
	waitingSample bool      // inflight > 0 at the last sample
}

// NewReadiness returns a Readiness with the given stall threshold (> 0).
// inflight and lastAck are called from the probe and handler goroutines and
// must be safe for concurrent use.
func NewReadiness(stall time.Duration, inflight func() int64, lastAck func() time.Time) *Readiness {
	return &Readiness{stall: stall, inflight: inflight, lastAck: lastAck, now: time.Now}
}

// SetStalled sets the source of stalled topics: fn describes each topic
// whose delivery made no progress for longer than the stall threshold
// (records that cannot be acknowledged, metadata unavailable); any makes
// the agent not ready, naming them, even while other topics flow. Call it
// before Check is used; fn must be safe for concurrent use.
func (r *Readiness) SetStalled(fn func(stall time.Duration) []string) {
	r.stalled = func() []string { return fn(r.stall) }
}

// Check returns nil when ready, or the reason it is not. Safe from any
// goroutine.
func (r *Readiness) Check() error {
	now := r.now()
	ack := r.lastAck()
	inflight := r.inflight()
	r.mu.Lock()
	contact := r.lastContact
	waiting := r.waitingSince
	if inflight > 0 && !r.waitingSample {
		// Not sampled yet: the wait starts now at the latest.
		waiting = now
	}
	r.mu.Unlock()
	if ack.After(contact) {
		contact = ack
	}
	if contact.IsZero() {
		return fmt.Errorf("no broker has answered yet")
	}
	if age := now.Sub(contact); age > r.stall {
		return fmt.Errorf("no broker answered for %s (ready_stall %s)", age.Round(time.Second), r.stall)
	}
	if r.stalled != nil {
		if topics := r.stalled(); len(topics) > 0 {
			return fmt.Errorf("delivery stalled: %s (ready_stall %s)", strings.Join(topics, "; "), r.stall)
		}
	}
	if inflight > 0 {
		since := waiting
		if ack.After(since) {
			since = ack
		}
		if age := now.Sub(since); age > r.stall {
			return fmt.Errorf("%d bytes waiting and no acknowledgement for %s (ready_stall %s)",
				inflight, age.Round(time.Second), r.stall)
		}
	}
	return nil
}

// ProbeInterval is how often RunProbe pings and samples: a quarter of the
// stall threshold, between 250ms and 5s.
func (r *Readiness) ProbeInterval() time.Duration {
	return min(max(r.stall/4, 250*time.Millisecond), 5*time.Second)
}

// RunProbe calls ping every ProbeInterval (each call bounded by the
// interval) and records when it succeeded; it also samples inflight to know
// since when bytes have been waiting. It returns nil when ctx is done. It
// runs on the caller's goroutine; ping must honour its context.
func (r *Readiness) RunProbe(ctx context.Context, ping func(context.Context) error) error {
	interval := r.ProbeInterval()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		r.sample()
		pctx, cancel := context.WithTimeout(ctx, interval)
		err := ping(pctx)
		cancel()
		if err == nil {
			r.mu.Lock()
			r.lastContact = r.now()
			r.mu.Unlock()
		}
		r.sample()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// sample notes the moment bytes start waiting.
func (r *Readiness) sample() {
	waiting := r.inflight() > 0
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if waiting && !r.waitingSample {
		r.waitingSince = now
	}
	r.waitingSample = waiting
}
