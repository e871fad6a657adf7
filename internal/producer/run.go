package producer

import (
	"context"
	"errors"
)

// runState is where the producer's Run is: the senders of queues created
// before Run starts wait for it; once it has returned none is started.
type runState int

const (
	runNotStarted runState = iota
	runRunning
	runStopped
)

// Run owns the sender goroutines: it starts one per topic-partition queue
// as Append creates them (and again when an owned append reopens a drained
// queue), and returns nil once ctx is done and every sender has returned.
// Records are sent only while Run runs. The drain is Close's: main cancels
// Run's context only after Close has returned, so that the senders deliver
// what Close flushes; ctx ending earlier is a hard stop (in-flight requests
// are abandoned, Close then returns at once and counts what is left). Run
// is called once, from its own goroutine; a second call returns an error.
func (p *Producer) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.run != runNotStarted {
		p.mu.Unlock()
		return errors.New("producer: Run called twice")
	}
	p.run = runRunning
	p.mu.Unlock()
	for {
		p.startPending()
		select {
		case <-ctx.Done():
			p.stop()
			p.wg.Wait()
			return nil
		case <-p.spawn:
		}
	}
}

// startSender counts a sender for q in wg and asks Run to start it: the
// count comes first, under p.mu as Close's closing flag, so Close's wait
// covers a sender not yet started. After a hard stop no sender starts and
// the records stay in the queue, counted by Close as left unacknowledged.
// The caller holds p.mu.
func (p *Producer) startSender(q *partitionQueue) {
	if p.run == runStopped {
		return
	}
	p.wg.Add(1)
	p.pending = append(p.pending, q)
	select {
	case p.spawn <- struct{}{}:
	default:
	}
}

// startPending starts the senders startSender asked for (Run's goroutine
// only).
func (p *Producer) startPending() {
	p.mu.Lock()
	qs := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, q := range qs {
		// Exits when the producer is closing and the queue is empty, or on
		// a hard stop.
		go p.runSender(q)
	}
}

// stop is the hard stop: in-flight requests are abandoned and senders
// counted but never started are released, so that wg.Wait returns once the
// started ones have. Called by Run when its context ends and by Close when
// its deadline passes.
func (p *Producer) stop() {
	p.hardStop()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.run = runStopped
	for range p.pending {
		p.wg.Done()
	}
	p.pending = nil
}
