package tailer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/logship/logship/internal/agenttest"
	"github.com/logship/logship/internal/checkpoint"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rec is one line received by testSink.
type rec struct {
	src       *Source
	data      string
	end       int64
	part      int
	last      bool
	truncated bool
	ack       checkpoint.Ack
	acked     bool
}

// testSink records lines. With autoAck it acknowledges each line at once;
// otherwise the test acknowledges with ackN / ackAll.
type testSink struct {
	budget  *checkpoint.Budget
	autoAck bool
	block   bool // Emit blocks until ctx is done, then abandons the lines and fails

	mu      sync.Mutex
	recs    []*rec
	unacked int64 // bytes of received, unacknowledged lines
	maxHeld int64
}

func (s *testSink) Emit(ctx context.Context, src *Source, lines []Line) error {
	if s.block {
		<-ctx.Done()
		for _, l := range lines {
			l.Ack.Abandon() // the Sink contract: a failing Emit abandons what it keeps
		}
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lines {
		r := &rec{src: src, data: string(l.Data), end: l.End, part: l.Part, last: l.Last, truncated: l.Truncated, ack: l.Ack}
		s.recs = append(s.recs, r)
		if s.autoAck {
			r.acked = true
			l.Ack.Done()
		} else {
			s.unacked += l.Ack.Size() - checkpoint.RecordOverhead // line bytes; the overhead may overshoot by design
		}
	}
	s.maxHeld = max(s.maxHeld, s.unacked)
	return nil
}

// ackN acknowledges up to n of the oldest unacknowledged lines.
func (s *testSink) ackN(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if n == 0 {
			return
		}
		if !r.acked {
			r.acked = true
			s.unacked -= r.ack.Size() - checkpoint.RecordOverhead
			r.ack.Done()
			n--
		}
	}
}

func (s *testSink) ackAll() { s.ackN(1 << 30) }

// heldBytes is the budget held by the received, unacknowledged lines.
func (s *testSink) heldBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, r := range s.recs {
		if !r.acked {
			n += r.ack.Size()
		}
	}
	return n
}

func (s *testSink) snapshot() []rec {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]rec, len(s.recs))
	for i, r := range s.recs {
		out[i] = *r
	}
	return out
}

func (s *testSink) datas() []string {
	var out []string
	for _, r := range s.snapshot() {
		out = append(out, r.data)
	}
	return out
}

func (s *testSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// harness runs one Tailer over dir.
type harness struct {
	t      *testing.T
	dir    string
	tl     *Tailer
	sink   *testSink
	budget *checkpoint.Budget
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	// doubles is checkpoint.DoubleAcks when the harness was built.
	doubles uint64
}

type harnessOpt func(*Options)

func withRestore(st ...checkpoint.FileState) harnessOpt {
	return func(o *Options) { o.Restore = st }
}

// newHarness builds a tailer with fast timings; p.Paths defaults to
// dir/*.log, relative paths are under dir, absolute ones are kept (a second
// tailer over the files of the first: a restart). Run starts it.
func newHarness(t *testing.T, p Settings, sink *testSink, budget int64, opts ...harnessOpt) *harness {
	t.Helper()
	dir := t.TempDir()
	if p.Name == "" {
		p.Name = "test"
	}
	for i, pat := range p.Paths {
		if !filepath.IsAbs(pat) {
			p.Paths[i] = filepath.Join(dir, pat)
		}
	}
	if len(p.Paths) == 0 {
		p.Paths = []string{filepath.Join(dir, "*.log")}
	}
	if p.RescanInterval == 0 {
		p.RescanInterval = 50 * time.Millisecond
	}
	if p.CloseInactive == 0 {
		p.CloseInactive = 200 * time.Millisecond
	}
	if budget == 0 {
		budget = 1 << 20
	}
	b := checkpoint.NewBudget(budget)
	if sink == nil {
		sink = &testSink{autoAck: true}
	}
	sink.budget = b
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Pipeline: p,
		Budget:   b,
		Sink:     sink,
		Metrics:  m,
		PollMin:  10 * time.Millisecond,
		PollMax:  50 * time.Millisecond,
	}
	for _, f := range opts {
		f(&o)
	}
	tl, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := &harness{t: t, dir: dir, tl: tl, sink: sink, budget: b, reg: reg, doubles: checkpoint.DoubleAcks()}
	t.Cleanup(h.settle)
	return h
}

// retarget makes the tailer, before Run, watch the glob pat (outside its
// harness directory) instead of its configured paths.
func (h *harness) retarget(pat string) {
	h.tl.patterns, h.tl.dirPats = []string{pat}, []string{filepath.Dir(pat)}
	h.tl.conf.roots = []string{staticRoot(pat)}
}

// settle stops the tailer, acknowledges what the sink still holds and
// checks that every ack was resolved exactly once: the budget is back to 0
// and no token was resolved twice.
func (h *harness) settle() {
	h.stop()
	h.sink.ackAll()
	if u := h.budget.InUse(); u != 0 {
		h.t.Errorf("after stop: budget in use %d, want 0", u)
	}
	if d := checkpoint.DoubleAcks() - h.doubles; d != 0 {
		h.t.Errorf("after stop: %d acks resolved twice", d)
	}
}

func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

func (h *harness) start() *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	// Exits when Run returns, after stop cancels its context.
	go func() { h.done <- h.tl.Run(ctx) }()
	return h
}

// stop cancels Run and waits for it (bounded).
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := agenttest.Until(10*time.Second, 5*time.Millisecond, what, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) waitLines(n int) []rec {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("%d lines (have %d)", n, h.sink.count()), func() bool { return h.sink.count() >= n })
	return h.sink.snapshot()
}

// metric reads a counter or gauge of this tailer.
func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	h.t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

// stateOf returns the snapshot entry for path.
func (h *harness) stateOf(path string) (checkpoint.FileState, bool) {
	for _, st := range h.tl.Snapshot() {
		if st.Path == path {
			return st, true
		}
	}
	return checkpoint.FileState{}, false
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteInPlace truncates the existing file at path (same inode, as an
// in-place rewrite does) and writes data to it.
func rewriteInPlace(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

func inode(t *testing.T, path string) (dev, ino uint64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return uint64(st.Dev), st.Ino
}

// openFDsTo counts this process's descriptors that point to path (a deleted
// file shows as "path (deleted)").
func openFDsTo(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue
		}
		if target == path || strings.TrimSuffix(target, " (deleted)") == path {
			n++
		}
	}
	return n
}

// unackedLines counts the received lines not acknowledged yet.
func (s *testSink) unackedLines() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.recs {
		if !r.acked {
			n++
		}
	}
	return n
}

// limitFDs lowers the process's soft RLIMIT_NOFILE to cur (a new descriptor
// numbered cur or more fails with EMFILE). restore puts the old limit back;
// it may be called more than once and also runs at cleanup. The limit is
// process-wide: tests that use it must not run in parallel.
func limitFDs(t *testing.T, cur uint64) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	lim := syscall.Rlimit{Cur: cur, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

// nextFD is the number the next descriptor would get (the lowest free one):
// limitFDs(t, nextFD(t)) leaves no descriptor free.
func nextFD(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return uint64(f.Fd())
}
