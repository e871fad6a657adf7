package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logship/logship/internal/agenttest"
)

// fakeSource is a Snapshotter with settable entries.
type fakeSource struct {
	mu      sync.Mutex
	entries []FileState
	calls   int
}

func (f *fakeSource) set(e []FileState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = e
}

func (f *fakeSource) Snapshot() []FileState {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return append([]FileState(nil), f.entries...)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// waitUntil polls cond every millisecond until it holds, failing the test
// after waitFor.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := agenttest.Until(waitFor, time.Millisecond, what, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatal(err)
	}
}

func TestFlusherFlush(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), discard)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	f, err := NewFlusher(s, time.Hour, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	writes := func() float64 { return counterValue(t, reg, "logship_checkpoint_writes_total") }

	// No sources: nothing is written (a loaded checkpoint is never
	// replaced by an empty one before the sources are registered).
	if err := f.Flush(); err != nil || writes() != 0 {
		t.Fatalf("Flush without sources: %v, writes %v", err, writes())
	}

	a, b := &fakeSource{}, &fakeSource{}
	a.set(sampleEntries(1)[:2])
	b.set(sampleEntries(1)[2:])
	f.Add(a)
	f.Add(b)
	f.Add(a) // no effect
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(s.Path())
	if err != nil || !equalStates(got, canon(sampleEntries(1))) {
		t.Fatalf("saved %+v, %v", got, err)
	}
	if writes() != 1 {
		t.Fatalf("writes = %v", writes())
	}

	// Unchanged, or only Updated changed: no write.
	e := sampleEntries(1)[2:]
	e[0].Updated = e[0].Updated.Add(time.Hour)
	b.set(e)
	if err := f.Flush(); err != nil || writes() != 1 {
		t.Fatalf("Flush of unchanged snapshot: %v, writes %v", err, writes())
	}

	// An offset moved: written.
	e[0].Offset++
	b.set(e)
	if err := f.Flush(); err != nil || writes() != 2 {
		t.Fatalf("Flush after change: %v, writes %v", err, writes())
	}

	// Same file reported by two sources (pipeline reload): lower offset.
	dup := sampleEntries(1)[0]
	dup.Offset = 0
	c := &fakeSource{}
	c.set([]FileState{dup})
	f.Add(c)
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	got, _ = ReadFile(s.Path())
	if len(got) != 3 {
		t.Fatalf("merged %d entries, want 3: %+v", len(got), got)
	}
	for _, g := range got {
		if g.Inode == dup.Inode && g.Offset != 0 {
			t.Fatalf("merged offset %d, want the lower 0", g.Offset)
		}
	}

	// Removing sources drops their entries.
	f.Remove(c)
	f.Remove(b)
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	got, _ = ReadFile(s.Path())
	if !equalStates(got, canon(sampleEntries(1)[:2])) {
		t.Fatalf("after Remove: %+v", got)
	}

	// A second flusher on the same registry reuses the counters.
	f2, err := NewFlusher(s, time.Hour, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	f2.Add(b)
	if err := f2.Flush(); err != nil {
		t.Fatal(err)
	}
	if writes() != 5 {
		t.Fatalf("writes = %v, want 5 (shared counter)", writes())
	}
}

func TestFlusherRunAndErrors(t *testing.T) {
	t.Parallel()
	m := newMemFS()
	s, err := openStore("/state", m, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	reg := prometheus.NewPedanticRegistry()
	f, err := NewFlusher(s, time.Millisecond, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{}
	src.set(sampleEntries(1))
	f.Add(src)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }() // exits when ctx is cancelled
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	writes := func() float64 { return counterValue(t, reg, "logship_checkpoint_writes_total") }
	errs := func() float64 { return counterValue(t, reg, "logship_checkpoint_errors_total") }
	waitUntil(t, "first write", func() bool { return writes() == 1 })

	// Disk full: every tick fails and is counted; one log line.
	m.setFailOp("write", syscall.ENOSPC)
	src.set(sampleEntries(2))
	waitUntil(t, "ten failures", func() bool { return errs() >= 10 })
	if n := strings.Count(logs.String(), "checkpoint save failed"); n != 1 {
		t.Fatalf("%d error lines for one condition, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Fatalf("error log without cause:\n%s", logs.String())
	}
	if got, err := s.Load(); err != nil || !equalStates(got.Entries, canon(sampleEntries(1))) {
		t.Fatalf("Load during failures = %+v, %v; want the last good state", got, err)
	}

	// Fault heals: the next tick saves and recovery is logged once.
	m.setFailOp("write", nil)
	waitUntil(t, "write after recovery", func() bool { return writes() == 2 })
	waitUntil(t, "recovery log", func() bool { return strings.Contains(logs.String(), "checkpoint save recovered") })
	// The recovery line counts the failures it did not log (ten or more
	// failed, one was logged).
	m1 := regexp.MustCompile(`checkpoint save recovered".* failures_not_logged=(\d+)`).FindStringSubmatch(logs.String())
	if m1 == nil {
		t.Fatalf("recovery line without failures_not_logged:\n%s", logs.String())
	}
	if n, _ := strconv.Atoi(m1[1]); n < 9 {
		t.Fatalf("recovery reports %s failures not logged, want >= 9:\n%s", m1[1], logs.String())
	}
	if got, err := s.Load(); err != nil || !equalStates(got.Entries, canon(sampleEntries(2))) {
		t.Fatalf("Load after recovery = %+v, %v", got, err)
	}

	// Flush reports its error to the caller.
	m.setFailOp("sync", syscall.EIO)
	src.set(sampleEntries(3))
	if err := f.Flush(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Flush = %v, want EIO", err)
	}
	// A new run of failures after the recovery is logged at once.
	waitUntil(t, "second failure run logged", func() bool {
		return strings.Count(logs.String(), "checkpoint save failed") == 2
	})
	m.setFailOp("sync", nil)
}

func TestNewFlusherValidation(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewFlusher(nil, time.Second, nil, nil); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := NewFlusher(s, 0, nil, nil); err == nil {
		t.Error("zero interval accepted")
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "logship_checkpoint_writes_total", Help: "x"})); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFlusher(s, time.Second, nil, reg); err == nil {
		t.Error("conflicting registration accepted")
	}
	f, err := NewFlusher(s, time.Second, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("non-comparable source accepted")
		}
	}()
	f.Add(funcSource(func() []FileState { return nil }))
}

type funcSource func() []FileState

func (f funcSource) Snapshot() []FileState { return f() }

// gatedSource is a fakeSource whose first Snapshot, once it has taken its
// entries, signals entered and waits for release before returning them: a
// tick caught between its snapshot and its save.
type gatedSource struct {
	fakeSource
	first   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gatedSource) Snapshot() []FileState {
	e := g.fakeSource.Snapshot()
	if g.first.CompareAndSwap(false, true) {
		close(g.entered)
		<-g.release
	}
	return e
}

// TestFinalFlushNeverGoesBackwards: a tick that snapshotted before the final
// Flush must not save its older snapshot after the final one (#11 item 3):
// after a clean stop the checkpoint is what was acknowledged last.
func TestFinalFlushNeverGoesBackwards(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), discard)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFlusher(s, time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &gatedSource{entered: make(chan struct{}), release: make(chan struct{})}
	old := sampleEntries(1)[:1]
	old[0].Offset = 10
	src.set(old)
	f.Add(src)
	tick := make(chan error, 1)
	// What Run does on every tick; exits once src is released below.
	go func() { tick <- f.flush() }()
	select {
	case <-src.entered:
	case <-time.After(waitFor):
		t.Fatal("the tick did not snapshot")
	}

	acked := sampleEntries(1)[:1]
	acked[0].Offset = 20
	src.set(acked)
	final := make(chan error, 1)
	// Exits when the final flush returns.
	go func() { final <- f.Flush() }()
	// The unfixed flusher saves the final snapshot while the tick is held;
	// a fixed one makes the final flush wait for the tick. The window only
	// gives the former the chance to happen first.
	var finalErr error
	finalDone := false
	select {
	case finalErr = <-final:
		finalDone = true
	case <-time.After(300 * time.Millisecond):
	}
	close(src.release)
	if err := <-tick; err != nil {
		t.Fatal(err)
	}
	if !finalDone {
		finalErr = <-final
	}
	if finalErr != nil {
		t.Fatal(finalErr)
	}
	got, err := ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Offset != 20 {
		t.Fatalf("checkpoint after the final flush = %+v, want offset 20 (the final snapshot): it went backwards", got)
	}
}
