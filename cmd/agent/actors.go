package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// actors runs the agent's long-lived parts — every one a Run(ctx) error —
// and makes any of them ending on its own stop the agent. An actor is
// expected to return only once its context is done; one that returns
// earlier, with an error or with nil, is an actor failure: it is logged with
// the actor's name, Failed is closed (the run loop then shuts the agent down
// in the documented order) and Err reports it, so the process exits
// non-zero. There is no restart: systemd's Restart=on-failure does that for
// the whole process, with the checkpoint never ahead of Kafka.
//
// Actors run under contexts of the caller's choosing, so that readers can be
// stopped before the flusher and the HTTP endpoint that outlive them during
// the drain.
type actors struct {
	log    *slog.Logger
	wg     sync.WaitGroup
	once   sync.Once
	failed chan struct{}

	mu    sync.Mutex
	cause error // the first failure
}

func newActors(log *slog.Logger) *actors {
	return &actors{log: log, failed: make(chan struct{})}
}

// Go runs run(ctx) on its own goroutine as the actor name. The returned
// channel is closed once run has returned.
func (g *actors) Go(ctx context.Context, name string, run func(context.Context) error) <-chan struct{} {
	done := make(chan struct{})
	g.wg.Add(1)
	// Exits when run returns: when ctx is done, or early as a failure.
	go func() {
		defer g.wg.Done()
		defer close(done)
		err := run(ctx)
		if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
			return // stopped as asked
		}
		if err == nil {
			err = errors.New("returned before it was stopped")
		}
		g.fail(fmt.Errorf("%s: %w", name, err))
		g.log.Error("actor stopped; shutting the agent down", "actor", name, "error", err)
	}()
	return done
}

func (g *actors) fail(err error) {
	g.mu.Lock()
	if g.cause == nil {
		g.cause = err
	}
	g.mu.Unlock()
	g.once.Do(func() { close(g.failed) })
}

// Failed is closed when the first actor failed.
func (g *actors) Failed() <-chan struct{} { return g.failed }

// Err is the first actor failure, or nil.
func (g *actors) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cause
}

// Wait waits until every actor started so far has returned.
func (g *actors) Wait() { g.wg.Wait() }
