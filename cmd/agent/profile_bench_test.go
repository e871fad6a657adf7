package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/agenttest"
)

// TestBenchProfileHookShortRun: `make bench-profile` asks the benchprofile
// build for its profiles (SIGUSR1) when the backlog is shipped. A run
// shorter than LOGSHIP_HEAPPROFILE_AFTER must still leave every profile it
// asked for, not a missing heap.pprof (#11 item 21).
func TestBenchProfileHookShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "logship-prof")
	build := exec.Command("go", "build", "-tags", "benchprofile", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	_, cfgPath := testConfig(t, dir, agenttest.MustFreeAddr(t))
	cpu, allocs, heap, tr := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "allocs.pprof"),
		filepath.Join(dir, "heap.pprof"), filepath.Join(dir, "trace.out")
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=",
		"LOGSHIP_CPUPROFILE="+cpu, "LOGSHIP_MEMPROFILE="+allocs,
		"LOGSHIP_HEAPPROFILE="+heap, "LOGSHIP_HEAPPROFILE_AFTER=1h",
		"LOGSHIP_TRACE="+tr, "LOGSHIP_TRACE_FOR=1h")
	logs := &syncWriter{w: new(strings.Builder)}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	// Exits when the agent does (SIGTERM below, or the deferred kill).
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	agenttest.WaitFor(t, 30*time.Second, "the agent running", func() bool { return strings.Contains(logs.String(), "pipelines running") })
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	agenttest.WaitFor(t, 30*time.Second, "cpu.pprof.done", func() bool { _, err := os.Stat(cpu + ".done"); return err == nil })
	for _, f := range []string{cpu, allocs, heap, tr} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("profile %s after SIGUSR1: %v (want it written)", filepath.Base(f), err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the deferred receive
		if err != nil {
			t.Errorf("agent exit: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not exit after SIGTERM:\n%s", logs.String())
	}
}
