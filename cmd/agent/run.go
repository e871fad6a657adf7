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
	"sync"
	"syscall"
	"time"

	"github.com/logship/logship/internal/agentid"
	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/decode"
	"github.com/logship/logship/internal/memlimit"
	"github.com/logship/logship/internal/pipeline"
	"github.com/logship/logship/internal/producer"
	"github.com/logship/logship/internal/sdnotify"
	"github.com/logship/logship/internal/tailer"
	"github.com/logship/logship/internal/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// cmdRun ships logs until SIGTERM or SIGINT, then drains: stop reading →
// flush the accumulator → wait for acknowledgements (bounded by
// shutdown_timeout) → write the final checkpoint. SIGHUP reloads the
// configuration (reload.go).
func cmdRun(args []string, stdout, stderr io.Writer) int {
	// Signals first: a SIGTERM during start-up must still mean "drain", and
	// a SIGHUP must never kill the agent (its default action).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	c := newCommand("run", "[-config FILE]", `Ships log lines to Kafka until SIGTERM or SIGINT, then drains: stops
reading, flushes what is buffered, waits up to agent.shutdown_timeout for the
broker's acknowledgements and writes the final checkpoint. SIGHUP reloads
the pipelines from the configuration file. Under systemd (Type=notify) it
sends READY=1 once the HTTP endpoint is bound and every pipeline runs.
`)
	path := c.configFlag()
	cfg, code := c.parseConfig(args, stdout, stderr)
	if cfg == nil {
		return code
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Agent, level, stderr)
	if err := setMemoryLimit(cfg.Agent, log); err != nil {
		log.Error("configuration does not fit in memory", "error", err)
		return exitUsage
	}
	for _, w := range cfg.Warnings() {
		log.Warn("insecure setting", "key", w.Key, "problem", w.Problem)
	}
	notifier, err := sdnotify.FromEnv()
	if err != nil {
		log.Warn("systemd watchdog disabled", "error", err)
	}
	if notifier.Enabled() {
		log.Info("notifying systemd", "watchdog", notifier.WatchdogInterval())
	}
	if err := runAgent(ctx, cfg, runEnv{path: *path, hup: hup, level: level, notify: notifier}, log); err != nil {
		log.Error("agent failed", "error", err)
		if errors.Is(err, checkpoint.ErrInsecureDir) {
			return exitUsage // fix the configuration; a restart will not help
		}
		return exitFailure
	}
	return exitOK
}

// runEnv is what the running agent needs besides its configuration: where
// to re-read it, the SIGHUP channel, the log level to adjust, and the
// service manager to notify.
type runEnv struct {
	path   string
	hup    <-chan os.Signal
	level  *slog.LevelVar
	notify *sdnotify.Notifier
}

// newLogger builds the process logger: JSON, or text for log_format text
// and for auto on a terminal. level is set from log_level and may be changed
// later (reload).
func newLogger(a config.Agent, level *slog.LevelVar, w io.Writer) *slog.Logger {
	if err := level.UnmarshalText([]byte(a.LogLevel)); err != nil {
		level.Set(slog.LevelInfo)
	}
	opts := &slog.HandlerOptions{Level: level}
	if a.LogFormat == "text" || (a.LogFormat == "auto" && isTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// setMemoryLimit reads the cgroup memory limit, refuses a budget whose
// peak (memory_limit + memlimit.Headroom) would not fit under it, and gives
// the Go runtime the soft limit memlimit.SoftLimit unless GOMEMLIMIT is set.
// The budget bounds what is retained; the soft limit makes the collector
// return freed memory before the heap doubles. The figures are logged.
func setMemoryLimit(a config.Agent, log *slog.Logger) error {
	budget := int64(a.MemoryLimit)
	cg, err := memlimit.ReadCgroup("/proc/self/cgroup", "/sys/fs/cgroup")
	if err != nil {
		// Not knowing the ceiling is no reason not to run.
		log.Warn("cgroup memory limit unknown", "error", err)
	}
	if err := memlimit.Check(budget, cg); err != nil {
		return err
	}
	soft := memlimit.SoftLimit(budget)
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		soft = debug.SetMemoryLimit(-1) // GOMEMLIMIT's value, unchanged
	} else {
		debug.SetMemoryLimit(soft)
	}
	log.Info("memory limits", "memory_limit", budget, "go_soft_limit", soft, "expected_peak", budget+memlimit.Headroom,
		"cgroup_limit", cg.Limit, "cgroup_version", cg.Version, "cgroup_file", cg.File)
	return nil
}

// agent is the wired set of long-lived parts.
type agent struct {
	log      *slog.Logger
	env      runEnv
	reg      *prometheus.Registry
	budget   *checkpoint.Budget
	producer *producer.Producer
	agentID  string // see agentid; part of every record's logship.source
	flusher  *checkpoint.Flusher
	ready    *telemetry.Readiness
	http     *telemetry.Server
	started  time.Time

	// pipelineMetrics, decodeMetrics and tailerMetrics are registered once
	// with reg; each pipeline counts into them under its name (reloads
	// included), and a reload removing a pipeline forgets its series.
	pipelineMetrics *pipeline.Metrics
	decodeMetrics   *decode.Metrics
	tailerMetrics   *tailer.Metrics

	// mu guards cfg and pipes: the running configuration and its pipelines,
	// in configuration order. The run goroutine changes them (start-up and
	// reloads); /status reads them.
	mu    sync.Mutex
	cfg   *config.Config
	pipes []*runningPipeline

	// retired holds the last checkpoint entries of pipelines removed by a
	// reload, by name, for when they come back. Run goroutine only.
	retired map[string][]checkpoint.FileState
}

func runAgent(ctx context.Context, cfg *config.Config, env runEnv, log *slog.Logger) error {
	a, err := wire(cfg, env, log)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

// wire builds every part from the configuration; it starts nothing.
func wire(cfg *config.Config, env runEnv, log *slog.Logger) (*agent, error) {
	if env.notify == nil {
		env.notify = &sdnotify.Notifier{}
	}
	if env.level == nil {
		env.level = new(slog.LevelVar)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	budget := checkpoint.NewBudget(int64(cfg.Agent.MemoryLimit))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "logship_inflight_bytes",
		Help: "Bytes read and not yet acknowledged by the broker (bounded by agent.memory_limit).",
	}, func() float64 { return float64(budget.InUse()) }))

	store, err := checkpoint.Open(cfg.Agent.DataDir, log)
	if err != nil {
		return nil, err
	}
	loaded, err := store.Load()
	if err != nil {
		return nil, err
	}
	agentID, err := agentid.Load(cfg.Agent.DataDir)
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

	pipelineMetrics, err := pipeline.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	decodeMetrics, err := decode.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	tailerMetrics, err := tailer.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	kopts, err := producerOptions(cfg, log, reg)
	if err != nil {
		return nil, err
	}
	prod, err := producer.New(kopts)
	if err != nil {
		return nil, err
	}
	a := &agent{cfg: cfg, log: log, env: env, reg: reg, budget: budget, producer: prod, agentID: agentID, started: time.Now(),
		pipelineMetrics: pipelineMetrics, decodeMetrics: decodeMetrics, tailerMetrics: tailerMetrics, retired: make(map[string][]checkpoint.FileState)}
	flusher, err := checkpoint.NewFlusher(store, cfg.Agent.CheckpointInterval, log, reg)
	if err != nil {
		return nil, err
	}
	a.flusher = flusher
	for _, pc := range cfg.Pipelines {
		if loaded.Reset {
			// A checkpoint that had to be discarded must not turn into
			// skipped data: files are read from the beginning.
			pc.StartAt = config.StartBeginning
		}
		var restore []checkpoint.FileState
		for _, fs := range loaded.Entries {
			if fs.Pipeline == pc.Name {
				restore = append(restore, fs)
			}
		}
		p, err := a.newPipeline(pc, restore, tailer.Handover{}, reg)
		if err != nil {
			return nil, err
		}
		a.pipes = append(a.pipes, p)
		flusher.Add(p.tailer)
	}
	a.ready = telemetry.NewReadiness(cfg.HTTP.ReadyStall, budget.InUse, prod.LastAck)
	a.ready.SetStalled(a.stalledTopics)
	if cfg.HTTP.Listen != "" {
		a.http = telemetry.New(telemetry.Options{
			Listen:   cfg.HTTP.Listen,
			Gatherer: reg,
			Ready:    a.ready.Check,
			Status:   func() any { return a.status() },
			PProf:    cfg.HTTP.PProf,
			Logger:   log,
		})
	}
	return a, nil
}

// stalledTopics describes, for /readyz and status, every topic whose
// delivery made no progress for longer than after: pipelines waiting for
// their topic's metadata (deleted, missing) and records the producer holds
// without an acknowledgement. Safe from any goroutine.
func (a *agent) stalledTopics(after time.Duration) []string {
	a.mu.Lock()
	pipes := a.pipes
	a.mu.Unlock()
	var out []string
	now := time.Now()
	for _, p := range pipes {
		if since := p.sink.TopicWait(); !since.IsZero() && now.Sub(since) > after {
			out = append(out, fmt.Sprintf("topic %s of pipeline %s unavailable for %s (its files wait)",
				p.sink.Topic(), p.cfg.Name, now.Sub(since).Round(time.Second)))
		}
	}
	for _, st := range a.producer.Stalled(after) {
		out = append(out, fmt.Sprintf("topic %s: %d records in partitions %v with no acknowledgement for %s",
			st.Topic, st.Records, st.Partitions, now.Sub(st.Since).Round(time.Second)))
	}
	return out
}

// newPipeline builds one pipeline (record building over the shared producer)
// and its tailer, restoring the given checkpoint entries and what a predecessor
// handed over (a reload). It starts nothing.
// reg nil builds the pipeline only to validate pc (a reload's first
// phase): nothing is registered, so a rejected reload leaves no series.
func (a *agent) newPipeline(pc config.Pipeline, restore []checkpoint.FileState, handover tailer.Handover, reg prometheus.Registerer) (rp *runningPipeline, err error) {
	var pm *pipeline.Metrics
	var dm *decode.Metrics
	var tm *tailer.Metrics
	if reg != nil {
		pm, dm, tm = a.pipelineMetrics, a.decodeMetrics, a.tailerMetrics
	}
	popts := pipelineOptions(pc)
	popts.Host, popts.AgentID, popts.Out, popts.Logger, popts.Metrics = a.cfg.Agent.Host, a.agentID, a.producer, a.log, pm
	p, err := pipeline.New(popts)
	if err != nil {
		return nil, err
	}
	// Each pipeline reads within its share of the budget: one whose topic
	// cannot take records (deleted, partitions gone) stalls only itself.
	share := a.budget.Share()
	defer func() {
		if err != nil {
			share.Close()
		}
	}()
	rp = &runningPipeline{cfg: pc, sink: p, budget: share}
	var sink tailer.Sink = p // raw lines without multiline: straight to the records
	if dopts := decodeOptions(pc); dopts.Enabled() {
		dopts.Next, dopts.Logger, dopts.Metrics = p, a.log, dm
		d, err := decode.New(dopts)
		if err != nil {
			return nil, err
		}
		// Flushes quiet files' pending events; stops with the tailer.
		rp.also = append(rp.also, d.Run)
		sink = d
	}
	t, err := tailer.New(tailer.Options{
		Pipeline: tailerSettings(pc),
		Budget:   share,
		Sink:     sink,
		Restore:  restore,
		Handover: handover,
		Logger:   a.log,
		Metrics:  tm,
		// With start_at: end, files begun are saved before they are read.
		Persist: a.flusher.Flush,
	})
	if err != nil {
		return nil, err
	}
	rp.tailer = t
	return rp, nil
}

// runningPipeline is one pipeline's tailer and the handle to stop it.
type runningPipeline struct {
	cfg    config.Pipeline
	tailer *tailer.Tailer
	sink   *pipeline.Pipeline
	// budget is the pipeline's share of the agent's budget; closed when the
	// pipeline is replaced or removed.
	budget *checkpoint.Budget
	// also are run alongside the tailer, under the same context, for parts
	// of the pipeline with work of their own (e.g. timeout flushes).
	also   []func(context.Context) error
	cancel context.CancelFunc
	done   <-chan struct{} // closed when the pipeline's actor has returned
}

// start runs the pipeline as one actor of g under a child of ctx that
// p.cancel stops (reload or shutdown). The pipeline ending on its own (a
// part failed, or returned early) is an actor failure: it stops the agent.
func (p *runningPipeline) start(ctx context.Context, g *actors) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = g.Go(ctx, "pipeline "+p.cfg.Name, p.run)
}

// run runs the tailer and the also parts until ctx is done or one of them
// returns; then it stops the others and returns the first result.
func (p *runningPipeline) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parts := append([]func(context.Context) error{p.tailer.Run}, p.also...)
	results := make(chan error, len(parts))
	for _, part := range parts {
		// Exits when ctx is done (the pipeline is stopped, or a sibling
		// returned) or part fails.
		go func() { results <- part(ctx) }()
	}
	first := <-results
	cancel()
	for range len(parts) - 1 {
		<-results
	}
	return first
}

// run starts every actor, announces readiness, serves SIGHUP reloads, and
// on SIGTERM/SIGINT (ctx done) or the first actor failure shuts down in this
// order: stop reading → flush the accumulator → wait for acknowledgements
// (bounded by shutdown_timeout) → final checkpoint → log how many records
// will be shipped again. The HTTP endpoint is bound before READY=1: a taken
// port fails the start.
func (a *agent) run(ctx context.Context) error {
	a.log.Info("logship starting", "version", version, "pipelines", len(a.pipes),
		"brokers", a.cfg.Kafka.Brokers, "data_dir", a.cfg.Agent.DataDir)
	if a.http != nil {
		if err := a.http.Listen(); err != nil {
			return err
		}
	}

	g := newActors(a.log)
	// The producer, the flusher, the readiness probe, the HTTP endpoint
	// and the watchdog run under serviceCtx: they outlive the readers until
	// the drain below is done.
	serviceCtx, stopServices := context.WithCancel(context.Background())
	defer func() {
		stopServices()
		g.Wait()
	}()
	// Close drains through the producer's senders before stopServices
	// ends them.
	g.Go(serviceCtx, "producer", a.producer.Run)
	g.Go(serviceCtx, "checkpoint flusher", a.flusher.Run)
	g.Go(serviceCtx, "readiness probe", func(ctx context.Context) error { return a.ready.RunProbe(ctx, a.producer.Ping) })
	if a.http != nil {
		g.Go(serviceCtx, "http endpoint", a.http.Run)
	}
	if a.env.notify.WatchdogInterval() > 0 {
		g.Go(serviceCtx, "systemd watchdog", func(ctx context.Context) error {
			return a.env.notify.RunWatchdog(ctx, func(err error) {
				a.log.Warn("systemd watchdog notification failed", "error", err)
			})
		})
	}

	for _, p := range a.pipes {
		p.start(ctx, g)
	}
	a.log.Info("pipelines running")
	a.notify("ready", a.env.notify.Ready)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-g.Failed():
			break loop
		case <-a.env.hup:
			a.reload(ctx, g)
		}
	}
	a.notify("stopping", a.env.notify.Stopping)
	a.mu.Lock()
	pipes := a.pipes
	a.mu.Unlock()
	for _, p := range pipes {
		p.cancel()
	}
	for _, p := range pipes {
		<-p.done
	}
	a.log.Info("shutting down: reading stopped, draining in-flight records", "timeout", a.cfg.Agent.ShutdownTimeout)

	drainCtx, cancel := context.WithTimeout(context.Background(), a.cfg.Agent.ShutdownTimeout)
	left := a.producer.Close(drainCtx)
	cancel()
	stopServices() // no flusher tick may race the final checkpoint
	g.Wait()
	flushErr := a.flusher.Flush()
	if left > 0 {
		a.log.Warn("shutdown timeout reached; unacknowledged records will be shipped again after restart", "records", left)
	}
	if flushErr != nil {
		a.log.Error("final checkpoint failed; lines since the last checkpoint will be shipped again", "error", flushErr)
	}
	a.log.Info("logship stopped", "unacknowledged_records", left)
	if err := g.Err(); err != nil {
		return err
	}
	return flushErr
}

// notify sends one state to the service manager; a failure is logged, never
// fatal (the agent works without systemd).
func (a *agent) notify(state string, send func() error) {
	if err := send(); err != nil {
		a.log.Warn("systemd notification failed", "state", state, "error", err)
	}
}
