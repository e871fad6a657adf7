package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Snapshotter is a source of checkpoint entries, typically one pipeline's
// tailer. Snapshot is called from the Flusher's goroutines, concurrently with
// the source's own work, and must return every entry the source is
// responsible for — including loaded checkpoints of files it has not reopened
// yet — with offsets taken from Tracker.Committed (never ahead of the
// broker). The Flusher does not keep or modify the returned slice.
type Snapshotter interface {
	Snapshot() []FileState
}

// Flusher periodically saves the merged snapshot of its sources to a Store
// when it changed, and does the final flush at shutdown. Safe for concurrent
// use: Add and Remove may be called while Run is running (pipeline reloads).
type Flusher struct {
	store    *Store
	interval time.Duration
	logger   *slog.Logger
	writes   prometheus.Counter
	errs     prometheus.Counter
	now      func() time.Time
	logEvery time.Duration

	mu      sync.Mutex
	sources []Snapshotter

	// saveMu serialises snapshot-and-save and guards the fields below.
	// Lock order: saveMu, then mu; Snapshot is called with saveMu held.
	saveMu     sync.Mutex
	last       []FileState
	saved      bool
	failing    bool
	lastLog    time.Time
	suppressed int
}

// NewFlusher returns a flusher that saves to store every interval (> 0). It
// registers logship_checkpoint_writes_total and
// logship_checkpoint_errors_total with reg (nil: not registered; already
// registered counters are reused). logger may be nil. It starts nothing.
func NewFlusher(store *Store, interval time.Duration, logger *slog.Logger, reg prometheus.Registerer) (*Flusher, error) {
	if store == nil {
		return nil, errors.New("checkpoint: new flusher: nil store")
	}
	if interval <= 0 {
		return nil, fmt.Errorf("checkpoint: new flusher: interval %v must be > 0", interval)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	writes, err := registerCounter(reg, "logship_checkpoint_writes_total",
		"Checkpoint files written durably.")
	if err != nil {
		return nil, err
	}
	errs, err := registerCounter(reg, "logship_checkpoint_errors_total",
		"Checkpoint saves that failed (the previous checkpoint stays in place).")
	if err != nil {
		return nil, err
	}
	return &Flusher{
		store:    store,
		interval: interval,
		logger:   logger.With("component", "checkpoint", "path", store.Path()),
		writes:   writes,
		errs:     errs,
		now:      time.Now,
		logEvery: max(interval, time.Minute),
	}, nil
}

func registerCounter(reg prometheus.Registerer, name, help string) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("checkpoint: register %s: %w", name, err)
	}
	return c, nil
}

// Add adds a source. s must be comparable (typically a pointer) so Remove can
// find it; adding the same source twice has no effect.
func (f *Flusher) Add(s Snapshotter) {
	if s == nil || !reflect.TypeOf(s).Comparable() {
		panic(fmt.Sprintf("checkpoint: Flusher.Add(%T): source must be a non-nil comparable value", s))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.sources, s) {
		f.sources = append(f.sources, s)
	}
}

// Remove removes a source; its entries are absent from the next save. When
// replacing a pipeline, Add the new source before removing the old one:
// entries of the same file reported by both are merged to the lower offset.
func (f *Flusher) Remove(s Snapshotter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sources = slices.DeleteFunc(f.sources, func(x Snapshotter) bool { return x == s })
}

// Run saves every interval when the merged snapshot changed, until ctx is
// done; then it returns nil without a final save (main calls Flush after the
// acknowledgements have drained). Failures are counted, logged at most once
// per minute while they persist, retried on the next tick, and never stop
// Run. Its only goroutine is the caller's.
func (f *Flusher) Run(ctx context.Context) error {
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := f.flush(); err != nil {
				f.logFailure(err)
			}
		}
	}
}

// Flush saves the merged snapshot now if it changed since the last
// successful save (the final flush at shutdown). The error is the Store's
// (counted, not logged here); the last good checkpoint is still on disk.
// With no sources Flush saves nothing, so a checkpoint loaded at start is
// never replaced by an empty one before the sources are registered.
func (f *Flusher) Flush() error {
	return f.flush()
}

// flush snapshots and saves under saveMu, so saves happen in the order of
// their snapshots: a tick that snapshotted before the final Flush cannot
// save its older state after it (the checkpoint never goes backwards).
func (f *Flusher) flush() error {
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	f.mu.Lock()
	sources := slices.Clone(f.sources)
	f.mu.Unlock()
	if len(sources) == 0 {
		return nil
	}
	var merged []FileState
	for _, s := range sources {
		merged = append(merged, s.Snapshot()...)
	}
	merged = mergeEntries(merged)
	if f.saved && sameEntries(f.last, merged) {
		return nil
	}
	if err := f.store.Save(merged); err != nil {
		f.errs.Inc()
		return err
	}
	f.writes.Inc()
	f.last, f.saved = merged, true
	if f.failing {
		f.failing = false
		f.logger.Info("checkpoint save recovered", "failures_not_logged", f.suppressed)
		f.suppressed = 0
	}
	return nil
}

// logFailure logs the first failure of a run of failures, then at most once
// per logEvery.
func (f *Flusher) logFailure(err error) {
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	now := f.now()
	if f.failing && now.Sub(f.lastLog) < f.logEvery {
		f.suppressed++
		return
	}
	f.logger.Error("checkpoint save failed", "err", err, "failures_not_logged", f.suppressed)
	f.failing, f.lastLog, f.suppressed = true, now, 0
}

// mergeEntries sorts entries and keeps, per file identity (pipeline, device,
// inode, fingerprint), the entry with the lowest offset.
func mergeEntries(entries []FileState) []FileState {
	sortEntries(entries)
	out := entries[:0]
	for _, e := range entries {
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.Pipeline == e.Pipeline && p.Device == e.Device && p.Inode == e.Inode && p.Fingerprint == e.Fingerprint {
				if e.Offset < p.Offset {
					*p = e
				}
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// sameEntries compares two sorted snapshots, ignoring Updated (a timestamp
// alone is no reason to write).
func sameEntries(a, b []FileState) bool {
	return slices.EqualFunc(a, b, func(x, y FileState) bool {
		x.Updated, y.Updated = time.Time{}, time.Time{}
		return x == y
	})
}
