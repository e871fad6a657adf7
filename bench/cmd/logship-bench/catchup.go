package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/logship/logship/internal/agenttest"
)

// catchupResult is one tool's run of the catch-up case: the broker is
// paused, the backlog is handed to the tool, the broker resumes and the
// tool drains it.
type catchupResult struct {
	Tool  string
	Lines int
	Bytes int64
	Load  string
	// Drain is from the broker's resume to the last record in Kafka.
	Drain time.Duration
	// PausedPeak and SampledPeak are the largest VmRSS samples (every 100
	// ms) while the broker was paused and over the whole run; PeakRSS is
	// VmHWM (logship) or ru_maxrss (kcat).
	PausedPeak, SampledPeak, PeakRSS int64
	V                                verdict
}

// warmLines are shipped before the broker is paused, so logship knows the
// topic's partitions (it asks the broker before it reads).
const warmLines = 1000

// pauseBroker freezes the broker (SIGSTOP) and returns the function that
// resumes it; resume does nothing once it has succeeded, so callers both
// call it and defer it.
func (e *env) pauseBroker() (resume func() error, err error) {
	if err := e.cluster.Pause(0); err != nil {
		return nil, err
	}
	resumed := false
	return func() error {
		if resumed {
			return nil
		}
		if err := e.cluster.Resume(0); err != nil {
			return err
		}
		resumed = true
		return nil
	}, nil
}

// peaks stops s and returns the peak RSS before Mark and over the whole
// run.
func peaks(s *agenttest.RSSSampler) (before, all int64) {
	before, after := s.Stop()
	return before, max(before, after)
}

func runCatchupMode(ctx context.Context, e *env) error {
	n := e.o.catchupLines
	file, size, err := backlogFile(ctx, e, n)
	if err != nil {
		return err
	}
	for _, run := range []func(context.Context, *env, string, int, int64) (catchupResult, error){runLogshipCatchup, runKcatCatchup} {
		r, err := run(ctx, e, file, n, size)
		if err != nil {
			return err
		}
		logf("catchup %s: drained %.0f MB in %.1fs, peak RSS %.1f MiB (sampled %.1f, paused %.1f), %s",
			r.Tool, float64(r.Bytes)/1e6, r.Drain.Seconds(), mib(r.PeakRSS), mib(r.SampledPeak), mib(r.PausedPeak), r.V)
		e.report.catchup = append(e.report.catchup, r)
	}
	return nil
}

// runLogshipCatchup: logship follows a file; the first warmLines are
// shipped, the broker is paused, the rest of the backlog is appended, and
// once the memory budget is full the broker resumes.
func runLogshipCatchup(ctx context.Context, e *env, file string, n int, size int64) (catchupResult, error) {
	r := catchupResult{Tool: "logship", Lines: n, Bytes: size, Load: loadAvg()}
	topic, err := e.newTopic(ctx, "catchup-logship", nil)
	if err != nil {
		return r, err
	}
	dir := filepath.Join(e.work, topic)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, err
	}
	target := filepath.Join(dir, "app.log")
	src, err := os.Open(file)
	if err != nil {
		return r, err
	}
	defer src.Close()
	dst, err := os.Create(target)
	if err != nil {
		return r, err
	}
	defer dst.Close()
	if _, err := io.CopyN(dst, src, warmLines*lineLen); err != nil {
		return r, err
	}
	a, err := startLogship(e.o.bin, dir, agentConfig{Brokers: e.broker.bootstrap, Topic: topic, Glob: target,
		MemoryLimit: e.o.memLimit}, nil)
	if err != nil {
		return r, err
	}
	defer a.Kill()
	s := agenttest.SampleRSS(a.Pid())
	defer s.Stop()
	if err := e.broker.waitHighWater(ctx, topic, e.o.partitions, warmLines, 50*time.Millisecond, time.Minute, a.Alive); err != nil {
		return r, err
	}
	resume, err := e.pauseBroker()
	if err != nil {
		return r, err
	}
	defer resume()
	if _, err := io.Copy(dst, src); err != nil {
		return r, err
	}
	budget := float64(32 << 20)
	if e.o.memLimit != "" {
		var v int64
		if _, err := fmt.Sscanf(e.o.memLimit, "%dMiB", &v); err == nil {
			budget = float64(v << 20)
		}
	}
	if err := a.waitMetric("logship_inflight_bytes", 0.9*budget, 100*time.Millisecond, time.Minute); err != nil {
		return r, err
	}
	s.Mark()
	if err := resume(); err != nil {
		return r, err
	}
	t0 := time.Now()
	if err := e.broker.waitHighWater(ctx, topic, e.o.partitions, int64(n), 50*time.Millisecond, backlogTimeout(n), a.Alive); err != nil {
		return r, err
	}
	r.Drain = time.Since(t0)
	u, err := agenttest.ProcUsage(a.Pid())
	if err != nil {
		return r, err
	}
	r.PeakRSS = u.PeakRSS
	r.PausedPeak, r.SampledPeak = peaks(s)
	if _, err := a.stop(60 * time.Second); err != nil {
		return r, err
	}
	r.V, err = verify(ctx, e.o.kcat, e.broker, topic, e.o.partitions, n, false, 0)
	if err != nil {
		return r, err
	}
	if !r.V.OK() {
		return r, fmt.Errorf("logship catch-up: %s", r.V)
	}
	return r, nil
}

// runKcatCatchup: `kcat -P -l` is given the whole backlog while the broker
// is paused; librdkafka queues what it reads (up to its queue limits), and
// the broker resumes once kcat's RSS has stopped growing for 2 s.
func runKcatCatchup(ctx context.Context, e *env, file string, n int, size int64) (catchupResult, error) {
	r := catchupResult{Tool: "kcat", Lines: n, Bytes: size, Load: loadAvg()}
	topic, err := e.newTopic(ctx, "catchup-kcat", nil)
	if err != nil {
		return r, err
	}
	resume, err := e.pauseBroker()
	if err != nil {
		return r, err
	}
	defer resume()
	args := append(kcatProducerArgs(e.broker.bootstrap, topic), "-l", file)
	cctx, cancel := context.WithTimeout(ctx, backlogTimeout(n)+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, e.o.kcat, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // exits with kcat
	s := agenttest.SampleRSS(cmd.Process.Pid)
	defer s.Stop()
	var last int64
	stable := time.Now()
	for deadline := time.Now().Add(time.Minute); time.Since(stable) < 2*time.Second && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		u, err := agenttest.ProcUsage(cmd.Process.Pid)
		if err != nil {
			break
		}
		if u.RSS > last+1<<20 {
			last, stable = u.RSS, time.Now()
		}
	}
	s.Mark()
	if err := resume(); err != nil {
		return r, err
	}
	t0 := time.Now()
	err = <-exited
	r.Drain = time.Since(t0)
	r.PausedPeak, r.SampledPeak = peaks(s)
	if err != nil {
		return r, fmt.Errorf("kcat: %w: %s", err, lastLines(stderr.String(), 10))
	}
	r.PeakRSS = agenttest.ExitUsage(cmd.ProcessState).PeakRSS
	r.V, err = verify(ctx, e.o.kcat, e.broker, topic, e.o.partitions, n, false, 0)
	if err != nil {
		return r, err
	}
	if !r.V.OK() {
		return r, fmt.Errorf("kcat catch-up: %s", r.V)
	}
	return r, nil
}
