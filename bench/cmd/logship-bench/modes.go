package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/logship/logship/internal/agenttest"
)

// backlogResult is one backlog run of one tool.
type backlogResult struct {
	Tool    string
	Round   int
	Lines   int
	Bytes   int64
	Wall    time.Duration // process start → last line acknowledged
	CPU     time.Duration // user+sys over the same interval (kcat: whole life)
	PeakRSS int64
	Load    string // 1-minute load average at the start (noise indicator)
	V       verdict
}

func (r backlogResult) linesPerSec() float64 { return float64(r.Lines) / r.Wall.Seconds() }
func (r backlogResult) mbPerSec() float64    { return float64(r.Bytes) / 1e6 / r.Wall.Seconds() }
func (r backlogResult) cpuPerGB() float64    { return r.CPU.Seconds() / (float64(r.Bytes) / 1e9) }
func (r backlogResult) cpuPerMLines() float64 {
	return r.CPU.Seconds() / (float64(r.Lines) / 1e6)
}

func backlogTimeout(n int) time.Duration {
	return 5*time.Minute + time.Duration(n/10_000)*time.Second
}

// runLogshipBacklog ships file (n lines) with logship into a fresh topic.
// The clock runs from process start until logship_records_acked_total
// reaches n (polled only once the broker's high watermarks show n records,
// so the scrapes do not load the agent during the run); CPU and peak RSS
// are read from /proc at that moment.
//
// With profileDone set (a binary built with -tags benchprofile) it asks the
// agent to finish its profiles and waits for that file before SIGTERM.
func runLogshipBacklog(ctx context.Context, e *env, file string, n int, size int64, round int, bin string, extraEnv []string, profileDone string) (backlogResult, error) {
	r := backlogResult{Tool: "logship", Round: round, Lines: n, Bytes: size, Load: loadAvg()}
	topic, err := e.newTopic(ctx, "backlog-logship", nil)
	if err != nil {
		return r, err
	}
	dir := filepath.Join(e.work, topic)
	t0 := time.Now()
	a, err := startLogship(bin, dir, agentConfig{Brokers: e.broker.bootstrap, Topic: topic, Glob: file, MemoryLimit: e.o.memLimit}, extraEnv)
	if err != nil {
		return r, err
	}
	defer a.Kill()
	if os.Getenv("BENCH_DEBUG") != "" {
		go func() {
			for a.Alive() == nil {
				time.Sleep(500 * time.Millisecond)
				inf, _ := a.Metric("logship_inflight_bytes")
				acked, _ := a.Metric("logship_records_acked_total")
				lat, _ := a.Metric("logship_ack_latency_seconds_sum")
				u, _ := agenttest.ProcUsage(a.Pid())
				ss, _ := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", a.Pid()))
				gcs, _ := a.Metric("go_gc_duration_seconds_count")
				logf("debug: inflight %.1f MiB acked %.0f avg ack latency %.3f s cpu %v gc cycles %.0f schedstat %s",
					inf/(1<<20), acked, lat/max(acked, 1), u.CPU, gcs, bytes.TrimSpace(ss))
			}
		}()
	}
	if err := e.broker.waitHighWater(ctx, topic, e.o.partitions, int64(n), 50*time.Millisecond, backlogTimeout(n), a.Alive); err != nil {
		return r, err
	}
	if err := a.waitMetric("logship_records_acked_total", float64(n), 10*time.Millisecond, 30*time.Second); err != nil {
		return r, err
	}
	r.Wall = time.Since(t0)
	u, err := agenttest.ProcUsage(a.Pid())
	if err != nil {
		return r, err
	}
	r.CPU, r.PeakRSS = u.CPU, u.PeakRSS
	dropped, _ := a.Metric("logship_records_dropped_total")
	retried, _ := a.Metric("logship_records_retried_total")
	if profileDone != "" {
		if err := a.finishProfiles(profileDone, 30*time.Second); err != nil {
			return r, err
		}
	}
	if _, err := a.stop(60 * time.Second); err != nil {
		return r, err
	}
	if dropped != 0 || retried != 0 {
		logf("  note: logship dropped %v, retried %v records", dropped, retried)
	}
	r.V, err = verify(ctx, e.o.kcat, e.broker, topic, e.o.partitions, n, false, 0)
	if err != nil {
		return r, err
	}
	if !r.V.OK() {
		return r, fmt.Errorf("logship run %d: %s", round, r.V)
	}
	return r, nil
}

// kcatProducerArgs are the librdkafka settings matched to logship's:
// acks=all, lz4, linger 10 ms, batches up to 1 MiB (logship batch_bytes),
// no key (librdkafka's default partitioner then spreads records; logship
// uses key none + round_robin).
func kcatProducerArgs(bootstrap, topic string) []string {
	return []string{"-P", "-b", bootstrap, "-t", topic, "-z", "lz4",
		"-X", "acks=all", "-X", "linger.ms=10", "-X", "batch.size=1048576"}
}

// runKcatBacklog ships file with `kcat -P -l`, which exits once every
// message was delivered (or failed); the clock runs from process start to
// exit, CPU and peak RSS come from rusage.
func runKcatBacklog(ctx context.Context, e *env, file string, n int, size int64, round int) (backlogResult, error) {
	r := backlogResult{Tool: "kcat", Round: round, Lines: n, Bytes: size, Load: loadAvg()}
	topic, err := e.newTopic(ctx, "backlog-kcat", nil)
	if err != nil {
		return r, err
	}
	args := append(kcatProducerArgs(e.broker.bootstrap, topic), "-l", file)
	cctx, cancel := context.WithTimeout(ctx, backlogTimeout(n))
	defer cancel()
	cmd := exec.CommandContext(cctx, e.o.kcat, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	err = cmd.Run()
	r.Wall = time.Since(t0)
	if err != nil {
		return r, fmt.Errorf("kcat: %w: %s", err, lastLines(stderr.String(), 10))
	}
	u := agenttest.ExitUsage(cmd.ProcessState)
	r.CPU, r.PeakRSS = u.CPU, u.PeakRSS
	r.V, err = verify(ctx, e.o.kcat, e.broker, topic, e.o.partitions, n, false, 0)
	if err != nil {
		return r, err
	}
	if !r.V.OK() {
		return r, fmt.Errorf("kcat run %d: %s", round, r.V)
	}
	return r, nil
}

func backlogFile(ctx context.Context, e *env, n int) (string, int64, error) {
	path := filepath.Join(e.work, fmt.Sprintf("backlog-%d.log", n))
	t0 := time.Now()
	size, err := generate(path, n)
	if err != nil {
		return "", 0, err
	}
	logf("generated %s: %d lines, %.1f MB in %s", filepath.Base(path), n, float64(size)/1e6, time.Since(t0).Round(time.Millisecond))
	return path, size, ctx.Err()
}

func runBacklogMode(ctx context.Context, e *env) error {
	n := e.o.lines
	file, size, err := backlogFile(ctx, e, n)
	if err != nil {
		return err
	}
	// Alternate the order each round so a drift in machine load does not
	// favour one tool.
	for round := 1; round <= e.o.rounds; round++ {
		order := []string{"logship", "kcat"}
		if round%2 == 0 {
			order = []string{"kcat", "logship"}
		}
		for _, tool := range order {
			var r backlogResult
			if tool == "logship" {
				r, err = runLogshipBacklog(ctx, e, file, n, size, round, e.o.bin, nil, "")
			} else {
				r, err = runKcatBacklog(ctx, e, file, n, size, round)
			}
			if err != nil {
				return fmt.Errorf("%s round %d: %w", tool, round, err)
			}
			logf("backlog %-7s round %d: %s lines/s, %.1f MB/s, %.2f CPU s/GB, peak RSS %.1f MiB; verified: %s",
				tool, round, fmtInt(int64(r.linesPerSec())), r.mbPerSec(), r.cpuPerGB(), mib(r.PeakRSS), r.V)
			e.report.backlog = append(e.report.backlog, r)
		}
	}
	return nil
}

// latencyResult is one latency run of one tool.
type latencyResult struct {
	Tool    string
	Written int
	Stats   delayStats
	PeakRSS int64
	CPUPct  float64 // producer CPU over the writing interval, % of one core
	V       verdict
	// HeldUntilEOF counts lines still not in Kafka 10 s after the writer
	// stopped, delivered only when the producer's input ended (kcat).
	HeldUntilEOF int
}

const latencyWarmup = 2 * time.Second

// runLatency runs the live writer against a LogAppendTime topic while
// start() has a producer following the file, then waits for every line and
// measures delays. start returns a function that stops the producer after
// all lines are in, and the producer's pid.
func runLatency(ctx context.Context, e *env, tool string,
	start func(topic, file string) (pid int, stop func() error, err error)) (latencyResult, error) {
	res := latencyResult{Tool: tool}
	topic, err := e.newTopic(ctx, "latency-"+tool, map[string]string{"message.timestamp.type": "LogAppendTime"})
	if err != nil {
		return res, err
	}
	file := filepath.Join(e.work, topic+".log")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return res, err
	}
	defer f.Close()
	pid, stop, err := start(topic, file)
	if err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = stop()
		}
	}()
	// Let the producer start and connect before the clock matters; the
	// first latencyWarmup of lines is excluded from the percentiles too.
	time.Sleep(time.Second)
	u0, _ := agenttest.ProcUsage(pid)
	t0 := time.Now()
	skipBefore := t0.Add(latencyWarmup).UnixNano()
	written, err := liveWriter(ctx, []*os.File{f}, e.o.rate, e.o.latencyDur, 2*time.Millisecond)
	if err != nil {
		return res, err
	}
	u1, _ := agenttest.ProcUsage(pid)
	res.CPUPct = 100 * (u1.CPU - u0.CPU).Seconds() / time.Since(t0).Seconds()
	res.Written = written
	alive := func() error { return nil }
	wait := 2 * time.Minute
	if tool == "kcat" {
		// kcat -P reading a pipe can hold the last lines it read until
		// its input ends (seen with librdkafka 2.0.2): give it 10 s, then
		// end its input and count what was still held back.
		wait = 10 * time.Second
	}
	if err := e.broker.waitHighWater(ctx, topic, e.o.partitions, int64(written), 50*time.Millisecond, wait, alive); err != nil {
		if tool != "kcat" {
			return res, err
		}
		hw, herr := e.broker.highWater(ctx, topic, e.o.partitions)
		if herr != nil {
			return res, herr
		}
		res.HeldUntilEOF = written - int(hw)
		logf("  kcat held %d of %d lines until its input ended", res.HeldUntilEOF, written)
	}
	res.PeakRSS = u1.PeakRSS
	stopped = true
	if err := stop(); err != nil {
		return res, err
	}
	res.V, err = verify(ctx, e.o.kcat, e.broker, topic, e.o.partitions, written, true, skipBefore)
	if err != nil {
		return res, err
	}
	if !res.V.OK() {
		return res, fmt.Errorf("%s latency: %s", tool, res.V)
	}
	res.Stats = statsOf(res.V.DelaysMs)
	res.V.DelaysMs = nil
	return res, nil
}

func runLatencyMode(ctx context.Context, e *env) error {
	logship := func(topic, file string) (int, func() error, error) {
		a, err := startLogship(e.o.bin, filepath.Join(e.work, topic), agentConfig{Brokers: e.broker.bootstrap, Topic: topic, Glob: file, MemoryLimit: e.o.memLimit}, nil)
		if err != nil {
			return 0, nil, err
		}
		if err := a.WaitHealthy(30 * time.Second); err != nil {
			a.Kill()
			return 0, nil, err
		}
		return a.Pid(), func() error { _, err := a.stop(60 * time.Second); return err }, nil
	}
	// kcat has no file follower: `tail -F` pipes the live file into
	// `kcat -P` (stdin, one message per line), the way a user would do it.
	kcat := func(topic, file string) (int, func() error, error) {
		tail := exec.Command("tail", "-c", "+1", "-F", file)
		tail.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		k := exec.Command(e.o.kcat, append(kcatProducerArgs(e.broker.bootstrap, topic), "-u")...)
		k.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		pipe, err := tail.StdoutPipe()
		if err != nil {
			return 0, nil, err
		}
		k.Stdin = pipe
		var stderr bytes.Buffer
		k.Stderr = &stderr
		if err := k.Start(); err != nil {
			return 0, nil, err
		}
		if err := tail.Start(); err != nil {
			_ = k.Process.Kill()
			_ = k.Wait()
			return 0, nil, err
		}
		stop := func() error {
			_ = tail.Process.Kill() // kcat sees EOF, flushes and exits
			_ = tail.Wait()
			done := make(chan error, 1)
			go func() { done <- k.Wait() }() // exits when kcat does
			select {
			case err := <-done:
				if err != nil {
					return fmt.Errorf("kcat: %w: %s", err, lastLines(stderr.String(), 5))
				}
				return nil
			case <-time.After(60 * time.Second):
				_ = k.Process.Kill()
				return fmt.Errorf("kcat did not exit after EOF")
			}
		}
		return k.Process.Pid, stop, nil
	}
	for _, t := range []struct {
		name  string
		start func(string, string) (int, func() error, error)
	}{{"logship", logship}, {"kcat", kcat}} {
		r, err := runLatency(ctx, e, t.name, t.start)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		logf("latency %-7s: %d lines at %d/s: p50 %.1f ms, p99 %.1f ms, max %.1f ms (over %d lines after %s warm-up), CPU %.1f%%; verified: %s",
			t.name, r.Written, e.o.rate, r.Stats.P50, r.Stats.P99, r.Stats.Max, r.Stats.N, latencyWarmup, r.CPUPct, r.V)
		e.report.latency = append(e.report.latency, r)
	}
	return nil
}

func runScaleMode(ctx context.Context, e *env) error {
	for _, n := range []int{e.o.scaleSmall, e.o.scaleLarge} {
		file, size, err := backlogFile(ctx, e, n)
		if err != nil {
			return err
		}
		r, err := runLogshipBacklog(ctx, e, file, n, size, 1, e.o.bin, nil, "")
		if err != nil {
			return fmt.Errorf("logship %d lines: %w", n, err)
		}
		logf("scale   logship %s lines: %s lines/s, %.2f CPU s per million lines, peak RSS %.1f MiB; verified: %s",
			fmtInt(int64(n)), fmtInt(int64(r.linesPerSec())), r.cpuPerMLines(), mib(r.PeakRSS), r.V)
		e.report.scale = append(e.report.scale, r)
		if n != e.o.lines {
			_ = os.Remove(file)
		}
	}
	return nil
}

// filesResult is the many-files run.
type filesResult struct {
	Files   int
	Rate    int // lines/s per file
	Dur     time.Duration
	CPUPct  float64 // % of one core over the measured interval
	RSS     int64   // at the end of the interval
	PeakRSS int64
	Written int
	V       verdict
}

func runFilesMode(ctx context.Context, e *env) error {
	const warmup = 10 * time.Second
	res := filesResult{Files: e.o.files, Rate: e.o.filesRate, Dur: e.o.filesDur}
	topic, err := e.newTopic(ctx, "files", nil)
	if err != nil {
		return err
	}
	dir := filepath.Join(e.work, topic+"-logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := make([]*os.File, e.o.files)
	for i := range files {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("app-%04d.log", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		files[i] = f
	}
	bin, env, done := e.o.bin, []string(nil), ""
	if e.o.profileFiles {
		out, err := filepath.Abs(e.o.out)
		if err != nil {
			return err
		}
		if bin, err = buildProfiling(ctx, e); err != nil {
			return err
		}
		cpu := filepath.Join(out, "files-cpu.pprof")
		done = cpu + ".done"
		_ = os.Remove(done)
		env = []string{"LOGSHIP_CPUPROFILE=" + cpu, "LOGSHIP_MEMPROFILE=" + filepath.Join(out, "files-allocs.pprof")}
	}
	a, err := startLogship(bin, filepath.Join(e.work, topic), agentConfig{Brokers: e.broker.bootstrap, Topic: topic,
		Glob: filepath.Join(dir, "*.log"), MemoryLimit: e.o.memLimit}, env)
	if err != nil {
		return err
	}
	defer a.Kill()
	if err := a.WaitHealthy(30 * time.Second); err != nil {
		return err
	}
	type sample struct {
		u agenttest.Usage
		t time.Time
	}
	var s0, s1 sample
	measured := make(chan struct{})
	// Samples the agent's CPU after the warm-up and at the end; exits when
	// both are taken or ctx ends.
	go func() {
		defer close(measured)
		select {
		case <-time.After(warmup):
		case <-ctx.Done():
			return
		}
		s0.u, _ = agenttest.ProcUsage(a.Pid())
		s0.t = time.Now()
		select {
		case <-time.After(e.o.filesDur):
		case <-ctx.Done():
			return
		}
		s1.u, _ = agenttest.ProcUsage(a.Pid())
		s1.t = time.Now()
	}()
	total := e.o.files * e.o.filesRate
	written, err := liveWriter(ctx, files, total, warmup+e.o.filesDur+500*time.Millisecond, 10*time.Millisecond)
	if err != nil {
		return err
	}
	<-measured
	if s1.t.IsZero() {
		return ctx.Err()
	}
	res.Written = written
	res.CPUPct = 100 * (s1.u.CPU - s0.u.CPU).Seconds() / s1.t.Sub(s0.t).Seconds()
	res.RSS, res.PeakRSS = s1.u.RSS, s1.u.PeakRSS
	if err := e.broker.waitHighWater(ctx, topic, e.o.partitions, int64(written), 100*time.Millisecond, 2*time.Minute, a.Alive); err != nil {
		return err
	}
	if done != "" {
		if err := a.finishProfiles(done, 30*time.Second); err != nil {
			return err
		}
	}
	if _, err := a.stop(60 * time.Second); err != nil {
		return err
	}
	res.V, err = verify(ctx, e.o.kcat, e.broker, topic, e.o.partitions, written, false, 0)
	if err != nil {
		return err
	}
	if !res.V.OK() {
		return fmt.Errorf("files: %s", res.V)
	}
	logf("files   logship %d files × %d lines/s: CPU %.2f%% of one core, RSS %.1f MiB (peak %.1f); verified: %s",
		res.Files, res.Rate, res.CPUPct, mib(res.RSS), mib(res.PeakRSS), res.V)
	e.report.files = &res
	return nil
}

// runProfileMode builds logship with -tags benchprofile (cmd/agent's
// profiling hook) and runs one backlog with CPU and allocation profiles.
func runProfileMode(ctx context.Context, e *env) error {
	out, err := filepath.Abs(e.o.out)
	if err != nil {
		return err
	}
	bin, err := buildProfiling(ctx, e)
	if err != nil {
		return err
	}
	n := e.o.lines
	file, size, err := backlogFile(ctx, e, n)
	if err != nil {
		return err
	}
	cpu, allocs, heap := filepath.Join(out, "cpu.pprof"), filepath.Join(out, "allocs.pprof"), filepath.Join(out, "heap.pprof")
	tr := filepath.Join(out, "trace.out")
	for _, f := range []string{cpu, allocs, heap, tr, cpu + ".done"} {
		_ = os.Remove(f)
	}
	r, err := runLogshipBacklog(ctx, e, file, n, size, 1, bin,
		[]string{"LOGSHIP_CPUPROFILE=" + cpu, "LOGSHIP_MEMPROFILE=" + allocs,
			"LOGSHIP_HEAPPROFILE=" + heap, "LOGSHIP_HEAPPROFILE_AFTER=4s",
			"LOGSHIP_TRACE=" + tr, "LOGSHIP_TRACE_FOR=3s"}, cpu+".done")
	if err != nil {
		return err
	}
	logf("profile logship: %s lines/s under the profiler; %s and %s written", fmtInt(int64(r.linesPerSec())), cpu, allocs)
	for _, p := range []struct{ file, args string }{
		{cpu, "-top -nodecount=30"},
		{cpu, "-top -cum -nodecount=40"},
		{allocs, "-top -sample_index=alloc_space -nodecount=25"},
		{allocs, "-top -sample_index=alloc_objects -nodecount=25"},
		{heap, "-top -sample_index=inuse_space -nodecount=25"},
	} {
		args := append([]string{"tool", "pprof"}, append(splitArgs(p.args), bin, p.file)...)
		b, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("pprof %s: %w: %s", p.args, err, b)
		}
		e.report.profiles = append(e.report.profiles, fmt.Sprintf("go tool pprof %s %s\n%s", p.args, filepath.Base(p.file), b))
	}
	// Where goroutines wait (first 3 s of the run, from the execution
	// trace): blocking on channels and locks, and waiting for the network.
	for _, kind := range []string{"sync", "net"} {
		prof := filepath.Join(out, "trace-"+kind+".pprof")
		b, err := exec.CommandContext(ctx, "go", "tool", "trace", "-pprof="+kind, tr).Output()
		if err != nil {
			return fmt.Errorf("go tool trace -pprof=%s: %w", kind, err)
		}
		if err := os.WriteFile(prof, b, 0o644); err != nil {
			return err
		}
		top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", prof).CombinedOutput()
		if err != nil {
			return fmt.Errorf("pprof %s: %w: %s", prof, err, top)
		}
		e.report.profiles = append(e.report.profiles, fmt.Sprintf("go tool trace -pprof=%s trace.out (first 3 s)\n%s", kind, top))
	}
	return nil
}

// buildProfiling builds logship with -tags benchprofile into the work dir.
func buildProfiling(ctx context.Context, e *env) (string, error) {
	bin := filepath.Join(e.work, "logship-prof")
	build := exec.CommandContext(ctx, "go", "build", "-tags", "benchprofile", "-o", bin, "./cmd/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build profiling binary: %w: %s", err, b)
	}
	return bin, nil
}

func splitArgs(s string) []string {
	var out []string
	for _, f := range bytes.Fields([]byte(s)) {
		out = append(out, string(f))
	}
	return out
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// fmtInt formats n with thousands separators.
func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b = append(b, ',')
		}
		b = append(b, c)
	}
	return string(b)
}
