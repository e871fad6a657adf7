package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/pipeline"
	"github.com/logship/logship/internal/tailer"
	"github.com/logship/logship/internal/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

// cmdRun ships logs until SIGTERM or SIGINT, then drains: stop reading →
// flush the accumulator → wait for acknowledgements (bounded by
// shutdown_timeout) → write the final checkpoint.
func cmdRun(args []string, stderr io.Writer) int {
	// Signals first: a SIGTERM during start-up must still mean "drain".
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, _, code := loadConfig("run", args, stderr)
	if cfg == nil {
		return code
	}
	log := newLogger(cfg.Agent, stderr)
	setMemoryLimit(cfg.Agent, log)
	if err := runAgent(ctx, cfg, log); err != nil {
		log.Error("agent failed", "error", err)
		return exitFailure
	}
	return exitOK
}

func newLogger(a config.Agent, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if a.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// setMemoryLimit gives the Go runtime a soft memory limit derived from
// agent.memory_limit (the budget of bytes in flight) unless GOMEMLIMIT is
// set: the budget plus the larger of 24 MiB (runtime, produce-request and
// lz4 buffers, metrics) and half the budget. The budget bounds what is
// retained; this makes the collector return freed memory before the heap
// doubles, so the default 32 MiB budget runs in under 64 MiB of RSS
// (measured by make bench; 2×budget+32 MiB let it reach 96 MiB).
func setMemoryLimit(a config.Agent, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	budget := int64(a.MemoryLimit)
	limit := budget + max(24<<20, budget/2)
	debug.SetMemoryLimit(limit)
	log.Debug("go runtime memory limit set", "bytes", limit)
}

// agent is the wired set of long-lived parts.
type agent struct {
	cfg      *config.Config
	log      *slog.Logger
	budget   *checkpoint.Budget
	producer *pipeline.Producer
	tailers  []*tailer.Tailer
	flusher  *checkpoint.Flusher
	http     *telemetry.Server
	started  time.Time
}

func runAgent(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	a, err := wire(cfg, log)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

// wire builds every part from the configuration; it starts nothing.
func wire(cfg *config.Config, log *slog.Logger) (*agent, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	budget := checkpoint.NewBudget(int64(cfg.Agent.MemoryLimit))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "logship_inflight_bytes",
		Help: "Bytes read and not yet acknowledged by the broker (bounded by agent.memory_limit).",
	}, func() float64 { return float64(budget.InUse()) }))

	store, err := checkpoint.Open(cfg.Agent.DataDir)
	if err != nil {
		return nil, err
	}
	loaded, err := store.Load()
	if err != nil {
		return nil, err
	}
	switch {
	case loaded.RecoveredFrom != "":
		log.Error("checkpoint file was corrupt, recovered from the previous checkpoint; some lines will be shipped again",
			"recovered_from", loaded.RecoveredFrom, "quarantined", loaded.Quarantined, "cause", loaded.Cause)
	case loaded.Reset:
		log.Error("checkpoint files were unusable and were moved aside; files are shipped again from the beginning",
			"quarantined", loaded.Quarantined, "cause", loaded.Cause)
	}

	kopts, err := producerOptions(cfg, log, reg)
	if err != nil {
		return nil, err
	}
	producer, err := pipeline.NewProducer(kopts)
	if err != nil {
		return nil, err
	}
	a := &agent{cfg: cfg, log: log, budget: budget, producer: producer, started: time.Now()}
	flusher, err := checkpoint.NewFlusher(store, cfg.Agent.CheckpointInterval, log, reg)
	if err != nil {
		return nil, err
	}
	a.flusher = flusher
	for _, pc := range cfg.Pipelines {
		sink, err := pipeline.New(pc, cfg.Agent.Host, producer, log, reg)
		if err != nil {
			return nil, err
		}
		if loaded.Reset {
			// A checkpoint that had to be discarded must not turn into
			// skipped data: files are read from the beginning.
			pc.StartAt = "beginning"
		}
		var restore []checkpoint.FileState
		for _, fs := range loaded.Entries {
			if fs.Pipeline == pc.Name {
				restore = append(restore, fs)
			}
		}
		t, err := tailer.New(tailer.Options{
			Pipeline:   pc,
			Budget:     budget,
			Sink:       sink,
			Restore:    restore,
			Logger:     log,
			Registerer: reg,
		})
		if err != nil {
			return nil, err
		}
		a.tailers = append(a.tailers, t)
		flusher.Add(t)
	}
	if cfg.HTTP.Listen != "" {
		a.http = telemetry.New(cfg.HTTP.Listen, reg, a.ready, log)
	}
	return a, nil
}

// ready reports delivery as stalled when bytes wait and nothing has been
// acknowledged for a while.
func (a *agent) ready() error {
	const stall = 30 * time.Second
	if a.budget.InUse() == 0 {
		return nil
	}
	last := a.producer.LastAck()
	if last.IsZero() {
		last = a.started
	}
	if age := time.Since(last); age > stall {
		return fmt.Errorf("%d bytes waiting and no acknowledgement for %s", a.budget.InUse(), age.Round(time.Second))
	}
	return nil
}

func (a *agent) run(ctx context.Context) error {
	a.log.Info("logship starting", "version", version, "pipelines", len(a.tailers),
		"brokers", a.cfg.Kafka.Brokers, "data_dir", a.cfg.Agent.DataDir)

	// Readers stop on ctx; the flusher and the HTTP endpoint outlive them
	// until the drain below is done.
	bgCtx, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	bg, bgCtx := errgroup.WithContext(bgCtx)
	bg.Go(func() error { return a.flusher.Run(bgCtx) })
	if a.http != nil {
		bg.Go(func() error { return a.http.Run(bgCtx) })
	}

	readers, readCtx := errgroup.WithContext(ctx)
	for _, t := range a.tailers {
		readers.Go(func() error { return t.Run(readCtx) })
	}
	a.log.Info("pipelines running")
	readErr := readers.Wait()
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		a.log.Error("reader failed, shutting down", "error", readErr)
	}
	a.log.Info("shutting down: reading stopped, draining in-flight records", "timeout", a.cfg.Agent.ShutdownTimeout)

	drainCtx, cancel := context.WithTimeout(context.Background(), a.cfg.Agent.ShutdownTimeout)
	left := a.producer.Close(drainCtx)
	cancel()
	flushErr := a.flusher.Flush()
	stopBackground()
	bgErr := bg.Wait()
	if left > 0 {
		a.log.Warn("shutdown timeout reached; unacknowledged records will be shipped again after restart", "records", left)
	}
	if flushErr != nil {
		a.log.Error("final checkpoint failed; lines since the last checkpoint will be shipped again", "error", flushErr)
	}
	a.log.Info("logship stopped", "unacknowledged_records", left)
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return readErr
	}
	if bgErr != nil && !errors.Is(bgErr, context.Canceled) {
		return bgErr
	}
	return flushErr
}
