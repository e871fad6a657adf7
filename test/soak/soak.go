// Package soak is the seeded multi-fault soak (TESTING.md F39): the real
// logship binary ships N growing, rotating files to a real Kafka cluster
// while a schedule derived from a seed kills, stops and restarts the agent
// and the brokers and rotates, copies, truncates and deletes the files. The
// writer's ledger is the ground truth; kcat (an independent client) consumes
// the topic. Checks run while the soak runs (C3 checkpoint snapshots, C6
// unexpected exits, C8 resource bounds) and at the end (C1 missing, C2
// duplicates within the agent's counters and the crash bound, C10 the final
// checkpoint equals what Kafka holds).
//
// Events are timed by the ledger (the total number of lines written), so a
// seed replays the same schedule as closely as the machine allows. A failed
// run keeps its work directory: schedule.json, ledger.tsv, agent.log, the
// brokers' logs and the checkpoints.
package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/kafkatest"
)

// Config is one soak run.
type Config struct {
	Seed     uint64
	Duration time.Duration
	Files    int    // writer files at the start (default 20)
	Rate     int    // total lines per second (default 2000)
	Nodes    int    // brokers: 1 or 3
	Bin      string // the logship binary
	// MaxOpenFiles is the pipeline's max_open_files (default 6, well below
	// the number of files, so readers park and take turns).
	MaxOpenFiles int
	WorkDir      string // parent of the run's work directory ("" = os.TempDir())
	Keep         bool   // keep the work directory even when the run passes
	Without      []string
	Log          io.Writer // progress; nil = discard
}

// Bounds of C8, far above what the agent needs with memory_limit 2MiB and a
// few open files; a leak crosses them in minutes.
const (
	maxRSS        = 256 << 20
	maxFDs        = 96
	maxGoroutines = 400
	partitions    = 4
	proxied       = "PROXIED"
)

// Result is what a run measured. Failures is empty when every check held.
type Result struct {
	Seed           uint64
	Nodes          int
	Duration       time.Duration
	Lines          int64
	Files          int
	Faults         map[string]int // applied, by kind
	Skipped        map[string]int // scheduled but not applicable (e.g. lines not yet shipped)
	Missing        int
	WindowLines    int
	WindowMissing  int
	WindowWatched  int // window lines written while the agent ran throughout
	WindowBytes    int64
	Duplicates     int
	DupBound       int64
	Counters       map[string]float64 // summed over agent runs
	AgentRuns      int
	Snapshots      int
	PeakRSS        int64
	PeakFDs        int
	PeakGoroutines int
	Failures       []string
	Notes          []string
	WorkDir        string
	Schedule       Schedule
}

// Summary is the one-line account of a run.
func (r Result) Summary() string {
	verdict := "PASS"
	if len(r.Failures) > 0 {
		verdict = "FAIL"
	}
	c := r.Counters
	return fmt.Sprintf("soak: seed=%d nodes=%d duration=%s lines=%d files=%d agent_runs=%d faults[%s] skipped[%s] "+
		"missing=%d window_lines=%d (watched %d) window_missing=%d truncation_lost_bytes=%.0f duplicates=%d dup_bound=%d retried=%.0f "+
		"acked=%.0f copies_recognised=%.0f rotations=%.0f truncations=%.0f open_waits=%.0f c3_snapshots=%d "+
		"peak_rss=%.1fMiB peak_fds=%d peak_goroutines=%d verdict=%s",
		r.Seed, r.Nodes, r.Duration.Round(time.Second), r.Lines, r.Files, r.AgentRuns, formatCounts(r.Faults), formatCounts(r.Skipped),
		r.Missing, r.WindowLines, r.WindowWatched, r.WindowMissing, c["logship_truncation_lost_bytes_total"], r.Duplicates, r.DupBound,
		c["logship_records_retried_total"], c["logship_records_acked_total"], c["logship_copies_recognised_total"],
		c["logship_rotations_total"], c["logship_truncations_total"], c["logship_open_budget_waits_total"], r.Snapshots,
		float64(r.PeakRSS)/(1<<20), r.PeakFDs, r.PeakGoroutines, verdict)
}

// counted are the agent counters summed over its runs.
var counted = []string{
	"logship_records_retried_total", "logship_records_acked_total", "logship_lines_read_total",
	"logship_truncation_lost_bytes_total", "logship_truncations_total", "logship_copies_recognised_total",
	"logship_rotations_total", "logship_open_budget_waits_total", "logship_forgotten_unread_bytes_total",
}

type nodeState int

const (
	nodeUp nodeState = iota
	nodePaused
	nodeDown
)

type run struct {
	cfg     Config
	log     io.Writer
	sched   Schedule
	work    string
	cluster *kafkatest.Cluster
	topic   string
	w       *writer
	cons    *consumer
	a       *agent

	mu        sync.Mutex
	res       Result
	nodes     []nodeState
	lastM     map[string]float64 // last scrape of the current agent run
	pending   []coverage         // crash bounds waiting for a readable Kafka
	watched   [][2]int           // copytruncate window lines the agent could see
	failed    chan struct{}
	failOnce  sync.Once
	writeDone chan struct{}
}

// coverage is what a stopped agent's checkpoint covers: file -> seq -> covered.
type coverage [][]bool

func (c coverage) has(k [2]int) bool {
	return k[0] < len(c) && k[1] < len(c[k[0]]) && c[k[0]][k[1]]
}

func (c *coverage) set(k [2]int) {
	for len(*c) <= k[0] {
		*c = append(*c, nil)
	}
	if row := (*c)[k[0]]; k[1] >= len(row) {
		(*c)[k[0]] = append(row, make([]bool, k[1]+1-len(row)+1024)...)
	}
	(*c)[k[0]][k[1]] = true
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "%s soak: %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func (r *run) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.logf("FAIL %s", msg)
	r.mu.Lock()
	r.res.Failures = append(r.res.Failures, msg)
	r.mu.Unlock()
	r.failOnce.Do(func() { close(r.failed) })
}

func (r *run) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.logf("note: %s", msg)
	r.mu.Lock()
	r.res.Notes = append(r.res.Notes, msg)
	r.mu.Unlock()
}

func (r *run) failedYet() bool {
	select {
	case <-r.failed:
		return true
	default:
		return false
	}
}

// Run executes one soak. The error is for a soak that could not run (no
// broker, no binary); a run whose checks failed returns a Result with
// Failures.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Files == 0 {
		cfg.Files = 20
	}
	if cfg.Rate == 0 {
		cfg.Rate = 2000
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 1
	}
	if cfg.MaxOpenFiles == 0 {
		cfg.MaxOpenFiles = 6
	}
	log := cfg.Log
	if log == nil {
		log = io.Discard
	}
	sched := NewSchedule(Plan{Seed: cfg.Seed, Duration: cfg.Duration, Files: cfg.Files, Rate: cfg.Rate, Nodes: cfg.Nodes, Without: cfg.Without})
	work, err := os.MkdirTemp(cfg.WorkDir, fmt.Sprintf("soak-%d-", cfg.Seed))
	if err != nil {
		return Result{}, fmt.Errorf("soak: work dir: %w", err)
	}
	r := &run{cfg: cfg, log: log, sched: sched, work: work, failed: make(chan struct{}), writeDone: make(chan struct{}),
		nodes: make([]nodeState, cfg.Nodes)}
	r.res = Result{Seed: cfg.Seed, Nodes: cfg.Nodes, Faults: map[string]int{}, Skipped: map[string]int{},
		Counters: map[string]float64{}, WorkDir: work, Schedule: sched}
	if b, err := json.MarshalIndent(sched, "", " "); err == nil {
		_ = os.WriteFile(filepath.Join(work, "schedule.json"), b, 0o644)
	}
	r.logf("seed %d, %s, %d files, %d lines/s, %d node(s), %d events (%s), work dir %s",
		cfg.Seed, cfg.Duration, cfg.Files, cfg.Rate, cfg.Nodes, len(sched.Events), formatCounts(sched.Kinds()), work)
	start := time.Now()
	err = r.execute(ctx)
	r.res.Duration = time.Since(start)
	if r.cluster != nil {
		if err != nil || len(r.res.Failures) > 0 || cfg.Keep {
			r.cluster.Keep()
		}
		r.cluster.Close()
	}
	if err == nil && len(r.res.Failures) == 0 && !cfg.Keep {
		os.RemoveAll(work)
		r.res.WorkDir = ""
	} else {
		r.logf("work dir kept: %s (replay: make soak SEED=%d DURATION=%s)", work, cfg.Seed, cfg.Duration)
	}
	return r.res, err
}

func (r *run) execute(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kctx, kcancel := context.WithTimeout(ctx, 5*time.Minute)
	// The agent connects through a fault-injecting proxy (its port is what
	// the brokers advertise on that listener); kcat connects directly.
	c, err := kafkatest.Start(kctx, kafkatest.Options{Nodes: r.cfg.Nodes, Dir: filepath.Join(r.work, "kafka"),
		Listeners: []kafkatest.Listener{{Name: proxied, Protocol: kafkatest.Plaintext, Proxied: true}}})
	kcancel()
	if err != nil {
		return fmt.Errorf("soak: start kafka: %w", err)
	}
	r.cluster = c
	r.topic = fmt.Sprintf("soak-%d", r.cfg.Seed)
	tctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	err = c.CreateTopic(tctx, r.topic, partitions, r.cfg.Nodes, nil)
	tcancel()
	if err != nil {
		return fmt.Errorf("soak: create topic: %w", err)
	}
	logDir := filepath.Join(r.work, "logs")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		return err
	}
	w, err := newWriter(logDir, r.work, r.sched)
	if err != nil {
		return err
	}
	defer w.close()
	r.w = w
	r.cons = newConsumer(c.Bootstrap(), r.topic, r.work, partitions)
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()
	bg.Go(func() { r.cons.run(ctx) })
	a, err := newAgent(r.cfg.Bin, r.work, c.ListenerBootstrap(proxied), r.topic, logDir, r.cfg.MaxOpenFiles)
	if err != nil {
		return err
	}
	r.a = a
	defer func() {
		if a.running() {
			_, _ = a.stop(syscall.SIGKILL, 30*time.Second)
		}
	}()
	if err := a.start(ctx); err != nil {
		return err
	}
	bg.Go(func() { r.sample(ctx) })
	bg.Go(func() { r.write(ctx) })
	r.schedule(ctx)
	<-r.writeDone
	r.finish(ctx)
	r.mu.Lock()
	r.res.Lines = w.total.Load()
	r.res.Files = len(w.files)
	r.res.AgentRuns = a.runCount()
	r.mu.Unlock()
	return nil
}

// write runs the writer until the schedule's target, 1.5× the duration, or
// a failure.
func (r *run) write(ctx context.Context) {
	defer close(r.writeDone)
	deadline := time.Now().Add(r.cfg.Duration * 3 / 2)
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	last := time.Now()
	for r.w.total.Load() < r.sched.Target && time.Now().Before(deadline) && !r.failedYet() {
		select {
		case <-ctx.Done():
			return
		case now := <-tk.C:
			if err := r.w.tick(now.Sub(last).Seconds()); err != nil {
				r.fail("writer: %v", err)
				return
			}
			last = now
		}
	}
}

// sample watches the agent every second: C6 (unexpected exits), C8 (RSS,
// descriptors, goroutines) and the counters of the current run.
func (r *run) sample(ctx context.Context) {
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	seen := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if cr := r.a.crashList(); len(cr) > seen {
			for _, c := range cr[seen:] {
				r.fail("C6: agent %s", c)
			}
			seen = len(cr)
		}
		if !r.a.running() || r.a.isFrozen() {
			continue
		}
		r.checkProc()
		if m, err := r.a.metrics(); err == nil {
			r.mu.Lock()
			r.lastM = m
			if g := int(m["go_goroutines"]); g > r.res.PeakGoroutines {
				r.res.PeakGoroutines = g
			}
			r.mu.Unlock()
			if g := m["go_goroutines"]; g > maxGoroutines {
				r.fail("C8: %.0f goroutines > %d", g, maxGoroutines)
			}
		}
	}
}

func (r *run) checkProc() {
	pid := r.a.pid()
	s, err := sampleProc(pid)
	if err != nil {
		return
	}
	r.mu.Lock()
	r.res.PeakRSS = max(r.res.PeakRSS, s.hwm, s.rss)
	r.res.PeakFDs = max(r.res.PeakFDs, s.fds)
	r.mu.Unlock()
	if s.rss > maxRSS {
		r.fail("C8: RSS %d MiB > %d MiB", s.rss>>20, maxRSS>>20)
	}
	if s.fds > maxFDs {
		r.fail("C8: %d open descriptors > %d", s.fds, maxFDs)
	}
}

// schedule applies the events in order, each once the ledger reached its At.
func (r *run) schedule(ctx context.Context) {
	for _, ev := range r.sched.Events {
		for r.w.total.Load() < ev.At {
			select {
			case <-ctx.Done():
				return
			case <-r.failed:
				return
			case <-r.writeDone:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		if r.failedYet() {
			return
		}
		applied, err := r.apply(ctx, ev)
		if err != nil {
			r.fail("%s: %v", ev, err)
			return
		}
		if ev.Heal {
			continue
		}
		r.mu.Lock()
		if applied {
			r.res.Faults[ev.Kind]++
		} else {
			r.res.Skipped[ev.Kind]++
		}
		r.mu.Unlock()
	}
}

func (r *run) brokersUp() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.nodes {
		if s != nodeUp {
			return false
		}
	}
	return true
}

func (r *run) apply(ctx context.Context, ev Event) (bool, error) {
	r.logf("%s (ledger %d)", ev, r.w.total.Load())
	switch ev.Kind {
	case KindAgentKill, KindAgentTerm:
		if ev.Heal {
			if r.a.running() {
				return false, nil
			}
			r.settle(ctx)
			return true, r.a.start(ctx)
		}
		if !r.a.running() {
			return false, nil
		}
		sig, timeout := syscall.SIGKILL, 30*time.Second
		if ev.Kind == KindAgentTerm {
			sig, timeout = syscall.SIGTERM, 60*time.Second
		}
		r.scrapeBeforeExit()
		exit, err := r.a.stop(sig, timeout)
		if err != nil {
			return false, err
		}
		if sig == syscall.SIGTERM && exit != nil {
			r.note("agent exit after SIGTERM: %v", exit)
		}
		return true, r.afterExit()
	case KindAgentStop:
		if !r.a.running() {
			return false, nil
		}
		r.a.freeze(!ev.Heal)
		return true, nil
	case KindBrokerPause, KindBrokerKill, KindBrokerStop:
		return r.broker(ctx, ev)
	case KindNetLatency, KindNetBlackhole, KindNetReset:
		for n := range r.cfg.Nodes {
			p := r.cluster.Proxy(n, proxied)
			switch {
			case ev.Heal:
				p.Heal()
			case ev.Kind == KindNetLatency:
				p.SetLatency(time.Duration(ev.N) * time.Millisecond)
			case ev.Kind == KindNetBlackhole:
				p.Blackhole()
			default:
				p.Reset()
			}
		}
		return true, nil
	case KindReload:
		if !r.a.running() || r.a.isFrozen() {
			return false, nil
		}
		return true, r.a.reload(ev.N == 1)
	case KindRename:
		return r.w.renameRotate(ev.File, ev.N)
	case KindCopyTruncate:
		// The window lasts two rescans. An agent that holds the file open
		// through it (its reader looks at the size at every EOF) knows the
		// bytes existed: if they are lost, its counter must say so.
		runs := r.a.runCount()
		lines, watched, ok, err := r.w.copyTruncate(ev.File, ev.N, time.Second, r.a.holds)
		if ok && watched && r.a.runCount() == runs {
			r.mu.Lock()
			r.watched = append(r.watched, lines...)
			r.mu.Unlock()
		}
		return ok, err
	case KindDelete, KindTruncate:
		if !r.w.freeze(ev.File, true) {
			r.w.freeze(ev.File, false)
			return false, nil
		}
		defer r.w.freeze(ev.File, false)
		if !r.waitShipped(ctx, r.w.current(ev.File), 8*time.Second) {
			return false, nil
		}
		if ev.Kind == KindDelete {
			return true, r.w.deleteRecreate(ev.File)
		}
		return true, r.w.truncateRewrite(ev.File)
	case KindVanish:
		g := r.w.vanishCandidate(ev.File)
		if g == nil || !r.waitShipped(ctx, g, 3*time.Second) {
			return false, nil
		}
		return true, r.w.vanish(g)
	case KindNewFile:
		r.w.mu.Lock()
		err := r.w.addFile(ev.File, ev.N)
		r.w.mu.Unlock()
		if err != nil {
			return false, nil // an earlier new-file was shrunk away
		}
		return true, nil
	case KindRetire:
		return r.w.retire(ev.File), nil
	case KindBurst:
		return r.w.burst(ev.File, ev.N)
	case KindRate:
		return r.w.setRate(ev.File, ev.N), nil
	case KindSnapshot:
		return r.snapshot(ctx)
	}
	return false, fmt.Errorf("unknown event kind %q", ev.Kind)
}

func (r *run) broker(ctx context.Context, ev Event) (bool, error) {
	n := ev.Node
	if n >= len(r.nodes) {
		return false, nil
	}
	r.mu.Lock()
	st := r.nodes[n]
	r.mu.Unlock()
	set := func(s nodeState) {
		r.mu.Lock()
		r.nodes[n] = s
		r.mu.Unlock()
	}
	var err error
	switch {
	case ev.Heal && st == nodePaused:
		err = r.cluster.Resume(n)
		set(nodeUp)
	case ev.Heal && st == nodeDown:
		rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err = r.cluster.Restart(rctx, n)
		cancel()
		set(nodeUp)
	case ev.Heal || st != nodeUp:
		return false, nil
	case ev.Kind == KindBrokerPause:
		err = r.cluster.Pause(n)
		set(nodePaused)
	case ev.Kind == KindBrokerKill:
		err = r.cluster.Kill(n)
		set(nodeDown)
	default:
		sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		err = r.cluster.Stop(sctx, n)
		cancel()
		set(nodeDown)
	}
	if err == nil && ev.Heal {
		r.settle(ctx)
	}
	return err == nil, err
}

// waitShipped waits until every line of g is in Kafka (a fault that
// destroys content only runs then: the loss would be the writer's).
func (r *run) waitShipped(ctx context.Context, g *gen, d time.Duration) bool {
	if g == nil {
		return false
	}
	lines := r.w.genLines(g)
	deadline := time.Now().Add(d)
	for {
		ok := true
		for _, k := range lines {
			if r.cons.count(k) == 0 && !r.w.isExcused(k) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caughtUp reads the topic's high watermarks and waits up to d until the
// consumer has read that far; false when the brokers cannot say (a node is
// not up) or the consumer lags.
func (r *run) caughtUp(ctx context.Context, d time.Duration) bool {
	if !r.brokersUp() {
		return false
	}
	hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	hw, err := r.cluster.HighWatermarks(hctx, r.topic)
	cancel()
	if err != nil {
		return false
	}
	deadline := time.Now().Add(d)
	for !r.cons.caughtUp(hw) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// snapshot is C3: freeze the agent, copy its checkpoint, and check that
// every line it covers is in Kafka.
func (r *run) snapshot(ctx context.Context) (bool, error) {
	if !r.a.running() || r.a.isFrozen() || !r.brokersUp() {
		return false, nil
	}
	r.a.freeze(true)
	defer r.a.freeze(false)
	entries, err := r.a.readCheckpoint()
	if err != nil {
		r.fail("C3: checkpoint unreadable: %v", err)
		return true, nil
	}
	if !r.caughtUp(ctx, time.Minute) {
		return false, nil
	}
	covered, unmatched := 0, 0
	for _, e := range entries {
		g := r.w.findGen(e.Device, e.Inode, e.Fingerprint, e.FingerprintLen)
		if g == nil {
			unmatched++
			continue
		}
		for _, k := range r.w.linesUpTo(g, e.Offset) {
			covered++
			if r.cons.count(k) == 0 {
				r.fail("C3: checkpoint entry %s (inode %d, offset %d) covers file %d seq %d, which Kafka does not hold",
					filepath.Base(e.Path), e.Inode, e.Offset, k[0], k[1])
				return true, nil
			}
		}
	}
	r.mu.Lock()
	r.res.Snapshots++
	r.mu.Unlock()
	r.logf("C3 snapshot: %d entries (%d unmatched), %d covered lines all in Kafka", len(entries), unmatched, covered)
	return true, nil
}

// scrapeBeforeExit takes the counters of a run just before it ends.
func (r *run) scrapeBeforeExit() {
	if r.a.isFrozen() {
		return
	}
	if m, err := r.a.metrics(); err == nil {
		r.mu.Lock()
		r.lastM = m
		r.mu.Unlock()
	}
}

// afterExit closes an agent run: its counters are added to the totals, and
// its final checkpoint becomes a crash bound to evaluate (every line Kafka
// holds that the checkpoint does not cover may be sent once more).
func (r *run) afterExit() error {
	r.mu.Lock()
	for _, k := range counted {
		r.res.Counters[k] += r.lastM[k]
	}
	r.lastM = nil
	r.mu.Unlock()
	cov, err := r.coverage()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.pending = append(r.pending, cov)
	r.mu.Unlock()
	return nil
}

func (r *run) coverage() (coverage, error) {
	entries, err := r.a.readCheckpoint()
	if err != nil {
		return nil, fmt.Errorf("checkpoint unreadable after exit: %w", err)
	}
	cov := coverage{}
	for _, e := range entries {
		g := r.w.findGen(e.Device, e.Inode, e.Fingerprint, e.FingerprintLen)
		if g == nil {
			continue
		}
		for _, k := range r.w.linesUpTo(g, e.Offset) {
			cov.set(k)
		}
	}
	return cov, nil
}

// settle evaluates pending crash bounds when Kafka can be read completely:
// lines Kafka holds that the stopped agent's checkpoint did not cover and
// that a file still holds may each be sent once more.
// It is called before the agent restarts and after brokers heal; a bound
// evaluated late also counts lines the next run shipped (looser, never
// tighter).
func (r *run) settle(ctx context.Context) {
	r.mu.Lock()
	n := len(r.pending)
	r.mu.Unlock()
	if n == 0 || !r.caughtUp(ctx, 30*time.Second) {
		return
	}
	r.mu.Lock()
	pend := r.pending
	r.pending = nil
	r.mu.Unlock()
	written, onDisk := r.w.written(), r.w.existing()
	var add int64
	for _, cov := range pend {
		for file, n := range written {
			for seq := range n {
				k := [2]int{file, seq}
				if !cov.has(k) && onDisk.has(k) && r.cons.count(k) > 0 {
					add++
				}
			}
		}
	}
	r.mu.Lock()
	r.res.DupBound += add
	r.mu.Unlock()
}

// finish heals every fault, waits for every line, stops the agent cleanly
// and runs the final checks.
func (r *run) finish(ctx context.Context) {
	if ctx.Err() != nil {
		r.fail("interrupted: %v", ctx.Err())
	}
	if r.failedYet() {
		return
	}
	r.w.mu.Lock()
	r.res.WindowLines = len(r.w.excused)
	r.res.WindowBytes = r.w.exBytes
	r.w.mu.Unlock()
	r.a.freeze(false)
	for n := range r.cfg.Nodes {
		r.cluster.Proxy(n, proxied).Heal()
	}
	for n := range r.nodes {
		for _, k := range []string{KindBrokerPause, KindBrokerKill} {
			if _, err := r.broker(ctx, Event{Kind: k, Heal: true, Node: n}); err != nil {
				r.fail("heal broker %d: %v", n, err)
				return
			}
		}
	}
	if !r.a.running() {
		r.settle(ctx)
		if err := r.a.start(ctx); err != nil {
			r.fail("final start: %v", err)
			return
		}
	}
	excused := func(k [2]int) bool { return r.w.isExcused(k) }
	written := r.w.written()
	// Wait for every line, as long as lines keep arriving (a stall of 90 s
	// ends the wait; 5 minutes at most).
	deadline := time.Now().Add(5 * time.Minute)
	best, progress := -1, time.Now()
	for {
		missing, _, _, first := r.cons.tally(written, excused)
		if missing == 0 {
			break
		}
		if best < 0 || missing < best {
			best, progress = missing, time.Now()
		}
		if time.Now().After(deadline) || time.Since(progress) > 90*time.Second || r.failedYet() {
			r.logf("after the last fault healed, %d lines still missing, the last one arrived %s ago (first missing %s); agent state in status.json, metrics.txt",
				missing, time.Since(progress).Round(time.Second), first)
			r.a.dump(r.work)
			break
		}
		time.Sleep(2 * time.Second)
	}
	// C8: descriptors released once everything is shipped.
	r.checkProc()
	r.scrapeBeforeExit()
	if exit, err := r.a.stop(syscall.SIGTERM, 60*time.Second); err != nil || exit != nil {
		r.fail("C6: final SIGTERM: exit %v, %v", exit, err)
	}
	if err := r.afterExit(); err != nil {
		r.fail("C10: %v", err)
	}
	r.settle(ctx)
	r.checkFinal(written, excused)
}

func (r *run) checkFinal(written []int, excused func([2]int) bool) {
	missing, winMissing, dups, first := r.cons.tally(written, excused)
	r.mu.Lock()
	r.res.Missing, r.res.WindowMissing, r.res.Duplicates = missing, winMissing, dups
	bound := float64(r.res.DupBound) + r.res.Counters["logship_records_retried_total"]
	lost := r.res.Counters["logship_truncation_lost_bytes_total"]
	pend := len(r.pending)
	r.mu.Unlock()
	if missing > 0 {
		r.fail("C1: %d lines missing (first %s)", missing, first)
	}
	if pend > 0 {
		r.note("%d crash bounds could not be evaluated (Kafka unreadable)", pend)
	}
	if missing > 0 || float64(dups) > bound {
		r.cons.dump(filepath.Join(r.work, "tally.tsv"), written)
	}
	if float64(dups) > bound {
		r.fail("C2: %d duplicates > bound %.0f (records acknowledged but not checkpointed at kills + retried)", dups, bound)
	}
	// A window line the agent was running to see and that reached neither
	// Kafka nor the agent's loss counter was lost silently.
	watchedLost := int64(0)
	r.mu.Lock()
	for _, k := range r.watched {
		if r.cons.count(k) == 0 {
			watchedLost += r.w.lineBytes(k)
		}
	}
	r.res.WindowWatched = len(r.watched)
	r.mu.Unlock()
	if float64(watchedLost) > lost {
		// The counter is a documented lower bound: a reader held up by
		// backpressure keeps its descriptor but does not look at the size.
		r.note("%d bytes of copytruncate window lines are missing from windows during which the agent held the file open; logship_truncation_lost_bytes_total says %.0f",
			watchedLost, lost)
	}
	if winMissing > 0 {
		r.note("%d copytruncate window lines missing (%d bytes of them in windows the running agent saw); truncation_lost_bytes_total %.0f",
			winMissing, watchedLost, lost)
	}
	if n, first := r.cons.bad(); n > 0 {
		r.fail("%d malformed records in Kafka (first %q)", n, first)
	}
	r.checkC10()
}

// checkC10: after the clean stop, every file on disk has a checkpoint entry
// at its end (everything was shipped, so everything is acknowledged).
func (r *run) checkC10() {
	entries, err := r.a.readCheckpoint()
	if err != nil {
		r.fail("C10: %v", err)
		return
	}
	dir := r.w.dir
	ents, err := os.ReadDir(dir)
	if err != nil {
		r.fail("C10: %v", err)
		return
	}
	bad := 0
	for _, de := range ents {
		p := filepath.Join(dir, de.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil || len(data) == 0 {
			continue
		}
		var found *checkpoint.FileState
		for i, e := range entries {
			if e.Inode == st.Ino && e.FingerprintLen <= len(data) && strings.EqualFold(e.Fingerprint, (&gen{prefix: data}).fingerprint(e.FingerprintLen)) {
				found = &entries[i]
			}
		}
		switch {
		case found == nil:
			bad++
			r.fail("C10: %s (inode %d, %d bytes) has no checkpoint entry after the final stop", de.Name(), st.Ino, len(data))
		case found.Offset != int64(len(data)):
			bad++
			r.fail("C10: %s checkpoint offset %d, file and Kafka hold %d bytes", de.Name(), found.Offset, len(data))
		}
		if bad > 5 {
			return
		}
	}
}

// Shrink reruns a failing seed without some fault kinds and keeps every
// removal that still fails: halves of the remaining kinds first, then
// quarters, down to one kind at a time (simple delta debugging). It returns
// the kinds removed and the last failing result (the smallest failing
// schedule).
func Shrink(ctx context.Context, cfg Config) (without []string, last Result, err error) {
	res, err := Run(ctx, cfg)
	if err != nil {
		return nil, res, err
	}
	if len(res.Failures) == 0 {
		return nil, res, fmt.Errorf("soak: seed %d did not fail; nothing to shrink", cfg.Seed)
	}
	last = res
	var kinds []string
	for k := range res.Schedule.Kinds() {
		if k != KindSnapshot {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	for chunk := max(len(kinds)/2, 1); ; chunk /= 2 {
		for i := 0; i < len(kinds); {
			part := kinds[i:min(i+chunk, len(kinds))]
			try := cfg
			try.Without = append(slices.Clone(cfg.Without), part...)
			fmt.Fprintf(cfg.Log, "shrink: trying without %s\n", strings.Join(try.Without, ","))
			res, err := Run(ctx, try)
			if err != nil {
				return cfg.Without, last, err
			}
			if len(res.Failures) > 0 {
				fmt.Fprintf(cfg.Log, "shrink: still fails without %s (%s)\n", strings.Join(part, ","), res.Failures[0])
				cfg.Without, last = try.Without, res
				kinds = slices.Delete(kinds, i, i+len(part)) // part aliases kinds
				continue
			}
			i += len(part)
		}
		if chunk == 1 || len(kinds) <= 1 {
			return cfg.Without, last, nil
		}
	}
}
