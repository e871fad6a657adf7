package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logship/logship/internal/agenttest"
)

// catchUpBytes is the backlog written while the broker is paused. The CI
// default keeps each run to tens of seconds; issue 19's figure is for 1 GB:
//
//	go test -count=1 -run 'CatchUp' ./test/e2e/ -catchup-bytes 1073741824
var catchUpBytes = flag.Int64("catchup-bytes", 128<<20, "backlog written while the broker is paused in the catch-up memory tests")

// catchUpHeadroom is what the agent may use beyond agent.memory_limit at its
// peak, through the outage and the drain after it (issue 19).
const catchUpHeadroom = 40 << 20

// TestCatchUpMemoryAfterOutage (F27, C8): the broker is paused, a backlog is
// written to 10 files (200-byte lines, raw serializer, key none), the broker
// resumes and the agent drains it. RSS is sampled every 100 ms through the
// pause and the drain; the peak (sampled and VmHWM) must stay within
// memory_limit + 40 MiB at every size, and every line must arrive.
func TestCatchUpMemoryAfterOutage(t *testing.T) {
	for _, mib := range []int64{16, 32, 64} {
		t.Run(fmt.Sprintf("memory_limit_%dMiB", mib), func(t *testing.T) {
			r := catchUp(t, mib<<20, catchUpOptions{})
			if r.peak() > mib<<20+catchUpHeadroom {
				t.Fatalf("peak RSS %.1f MiB (sampled %.1f, VmHWM %.1f) over memory_limit %d MiB + 40 MiB",
					mibOf(r.peak()), mibOf(r.sampled), mibOf(r.hwm), mib)
			}
		})
	}
}

// TestF27CatchUpInMemoryCgroup (F27 for real): the agent runs in a child
// memory cgroup with a hard limit — the DaemonSet's 128Mi at the default
// budget, and 64Mi at memory_limit 16MiB — through an outage and the drain
// after it. It must not be OOM-killed (the cgroup's oom_kill counter and
// the agent's exit status), and nothing may be missing. The third case is
// killed with SIGKILL during the catch-up and restarted in the same cgroup:
// no crash loop, nothing missing.
func TestF27CatchUpInMemoryCgroup(t *testing.T) {
	for _, c := range []struct {
		cgroup, budget int64
		kill           bool
	}{{128 << 20, 32 << 20, false}, {64 << 20, 16 << 20, false}, {128 << 20, 32 << 20, true}} {
		name := fmt.Sprintf("cgroup_%dMiB_memory_limit_%dMiB", c.cgroup>>20, c.budget>>20)
		if c.kill {
			name += "_kill9_in_drain"
		}
		t.Run(name, func(t *testing.T) {
			cg := newMemCgroup(t, c.cgroup)
			r := catchUp(t, c.budget, catchUpOptions{cg: cg, killInDrain: c.kill})
			st := cg.stats()
			t.Logf("cgroup %s: limit %d MiB, max usage %.1f MiB, failcnt %d, oom_kill %d",
				cg.version, c.cgroup>>20, mibOf(st.maxUsage), st.failcnt, st.oomKill)
			if st.oomKill > 0 { // -1: the kernel has no counter; the exit status still tells
				t.Fatalf("cgroup reports %d OOM kills", st.oomKill)
			}
			if r.peak() > c.budget+catchUpHeadroom {
				t.Fatalf("peak RSS %.1f MiB over memory_limit %d MiB + 40 MiB", mibOf(r.peak()), c.budget>>20)
			}
		})
	}
}

// TestF27BudgetOverCgroupRefused: a memory_limit whose peak cannot fit in
// the agent's cgroup is refused at start with exit status 2 and an error
// that names both figures, before anything is read.
func TestF27BudgetOverCgroupRefused(t *testing.T) {
	cg := newMemCgroup(t, 64<<20)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: "unused", Glob: filepath.Join(t.TempDir(), "*.log"),
		MemoryLimit: "32MiB"})
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" run -config "$3"`,
		"sh", cg.dir, agentBinPlain, a.ConfigPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("agent with memory_limit 32MiB in a 64MiB cgroup: exit %v, want status 2; output:\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("agent with memory_limit 32MiB in a 64MiB cgroup still running after 30s; output:\n%s", out.String())
	}
	for _, want := range []string{"configuration does not fit in memory", "32MiB", "64MiB", "at most 24MiB"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("refusal lacks %q:\n%s", want, out.String())
		}
	}
}

type catchUpResult struct {
	sampled, hwm, pausedPeak int64
}

func (r catchUpResult) peak() int64 { return max(r.sampled, r.hwm) }

type catchUpOptions struct {
	cg          *memCgroup // run the agent in this cgroup
	killInDrain bool       // SIGKILL the agent a fifth into the drain and restart it
}

// catchUp runs the outage-then-drain scenario once at the given budget and
// checks that every line arrived and that the agent was never killed but
// by the test. It returns the RSS figures (of both runs when killed).
func catchUp(t *testing.T, budget int64, o catchUpOptions) catchUpResult {
	cg := o.cg
	topic := newTopic(t, 3)
	dir := t.TempDir()
	const files = 10
	w := newWriter(t, dir, files, 188) // "<f> <seq> <188 x>\n": about 200 bytes
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log"),
		Key: "none", MemoryLimit: fmt.Sprintf("%dMiB", budget>>20)})
	a.Bin = agentBinPlain
	if cg != nil {
		a.Cgroup = cg.dir
	}
	a.start()
	s := agenttest.SampleRSS(a.Pid())
	defer s.Stop()
	for i := range files {
		w.Write(t, i, 10)
	}
	waitShipped(t, topic, 10*files, time.Minute)
	resume := pauseBroker(t)
	lineLen := int64(len(fmt.Sprintf("%d %d %s\n", 0, 100000, w.Payload)))
	for written := int64(0); written < *catchUpBytes; written += files * 2_000 * lineLen {
		for i := range files {
			w.Write(t, i, 2_000)
		}
	}
	waitFor(t, time.Minute, "the memory budget to fill", func() bool {
		v, err := a.Metric("logship_inflight_bytes")
		return err == nil && v >= float64(budget)*0.9
	})
	s.Mark()
	resume()
	drainStart := time.Now()
	var r catchUpResult
	if o.killInDrain {
		waitShipped(t, topic, w.Total()/5, 2*time.Minute)
		if !a.Running() {
			t.Fatalf("agent exited during the drain: %v", a.ExitErr())
		}
		r.hwm = a.PeakRSS()
		a.Kill()
		paused, drain := s.Stop()
		r.sampled, r.pausedPeak = max(drain, paused), paused
		a.start() // in the same cgroup
		s = agenttest.SampleRSS(a.Pid())
		s.Mark()
		defer s.Stop()
	}
	waitShipped(t, topic, w.Total(), 2*time.Minute+time.Duration(*catchUpBytes>>20)*300*time.Millisecond)
	if o.killInDrain {
		// The re-sent lines count in the high watermarks too: caught up is
		// when the restarted agent has nothing left to acknowledge.
		waitFor(t, 2*time.Minute, "the restarted agent to catch up", func() bool {
			lag, err1 := a.Metric("logship_file_lag_bytes")
			inflight, err2 := a.Metric("logship_inflight_bytes")
			return err1 == nil && err2 == nil && lag == 0 && inflight == 0
		})
	}
	drain := time.Since(drainStart)
	if !a.Running() {
		t.Fatalf("agent exited during the drain: %v", a.ExitErr())
	}
	r.hwm = max(r.hwm, a.PeakRSS())
	paused, drainPeak := s.Stop()
	r.pausedPeak = max(r.pausedPeak, paused)
	r.sampled = max(r.sampled, drainPeak, r.pausedPeak)
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check(w.Written())
	t.Logf("memory_limit %d MiB, %d lines (%.0f MB) written while paused, drained in %.1fs: "+
		"peak RSS sampled %.1f MiB (paused %.1f, drain %.1f), VmHWM %.1f MiB; missing %d, duplicates %d; RSS per second of the drain (MiB): %s",
		budget>>20, w.Total(), float64(w.Total())*float64(lineLen)/1e6, drain.Seconds(),
		mibOf(r.sampled), mibOf(r.pausedPeak), mibOf(drainPeak), mibOf(r.hwm), missing, dups, mibCurve(s.PerSecond()))
	if missing != 0 {
		t.Fatalf("%d lines missing after the drain (first %s)", missing, first)
	}
	return r
}

func mibOf(b int64) float64 { return float64(b) / (1 << 20) }

// mibCurve renders per-second RSS peaks in whole MiB.
func mibCurve(perSecond []int64) string {
	parts := make([]string, len(perSecond))
	for i, v := range perSecond {
		parts[i] = strconv.Itoa(int(v >> 20))
	}
	return strings.Join(parts, " ")
}

// memCgroup is a child memory cgroup of the test's own, created for one
// test and removed after it (v1 memory controller or v2).
type memCgroup struct {
	dir     string
	version string // "v1" or "v2"
}

// newMemCgroup creates a child of this process's memory cgroup with a hard
// limit. It skips the test, saying exactly why, where the hierarchy is not
// writable.
func newMemCgroup(t *testing.T, limit int64) *memCgroup {
	t.Helper()
	parent, version, err := ownMemCgroup()
	if err != nil {
		t.Skipf("F27 needs a memory cgroup: %v", err)
	}
	dir := filepath.Join(parent, fmt.Sprintf("logship-e2e-%d-%d", os.Getpid(), topicSeq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("F27 needs a writable memory cgroup hierarchy: mkdir %s: %v", dir, err)
	}
	cg := &memCgroup{dir: dir, version: version}
	// Registered before the agent's cleanup, so it runs after the agent is
	// killed; a cgroup with no process left can be removed.
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for os.Remove(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	})
	file, val := "memory.max", strconv.FormatInt(limit, 10)
	if version == "v1" {
		file = "memory.limit_in_bytes"
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(val), 0o644); err != nil {
		t.Fatalf("set %s/%s: %v", dir, file, err)
	}
	if version == "v1" {
		// Without swap accounting limits the whole: no swapping around the limit.
		_ = os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), []byte(val), 0o644)
	} else {
		_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0o644)
	}
	return cg
}

// ownMemCgroup finds the directory of this process's memory cgroup.
func ownMemCgroup() (dir, version string, err error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", "", err
	}
	var v2 string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2 = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == "memory" {
				return filepath.Join("/sys/fs/cgroup/memory", f[2]), "v1", nil
			}
		}
	}
	if v2 != "" {
		ctrl, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		if err == nil && strings.Contains(" "+string(ctrl)+" ", " memory ") {
			return filepath.Join("/sys/fs/cgroup", v2), "v2", nil
		}
	}
	return "", "", fmt.Errorf("no memory controller in /proc/self/cgroup (%q)", strings.TrimSpace(string(b)))
}

type cgroupStats struct {
	maxUsage, failcnt, oomKill int64
}

// stats reads the cgroup's peak usage and its limit and OOM counters.
func (c *memCgroup) stats() cgroupStats {
	num := func(name string) int64 {
		b, _ := os.ReadFile(filepath.Join(c.dir, name))
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n
	}
	field := func(name, key string) int64 {
		f, err := os.Open(filepath.Join(c.dir, name))
		if err != nil {
			return -1
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), " ")
			if k == key {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return -1
	}
	if c.version == "v1" {
		return cgroupStats{maxUsage: num("memory.max_usage_in_bytes"), failcnt: num("memory.failcnt"),
			oomKill: field("memory.oom_control", "oom_kill")}
	}
	return cgroupStats{maxUsage: num("memory.peak"), failcnt: field("memory.events", "max"),
		oomKill: field("memory.events", "oom_kill")}
}
