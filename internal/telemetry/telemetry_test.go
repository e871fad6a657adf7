package telemetry

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/logship/logship/internal/agenttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a settable clock for Readiness.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestReadinessCheck(t *testing.T) {
	t.Parallel()
	const stall = 10 * time.Second
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	var inflight atomic.Int64
	var lastAck atomic.Int64 // unix nanos; 0 = none
	r := NewReadiness(stall, inflight.Load, func() time.Time {
		if n := lastAck.Load(); n != 0 {
			return time.Unix(0, n)
		}
		return time.Time{}
	})
	r.now = clock.now
	contact := func() { r.mu.Lock(); r.lastContact = clock.now(); r.mu.Unlock() }
	expect := func(step, wantErr string) {
		t.Helper()
		err := r.Check()
		switch {
		case wantErr == "" && err != nil:
			t.Fatalf("%s: not ready: %v", step, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Fatalf("%s: got %v, want an error containing %q", step, err, wantErr)
		}
	}

	expect("start, no broker answered", "no broker has answered yet")
	contact()
	expect("broker answered", "")
	clock.add(stall)
	expect("idle, contact exactly ready_stall ago", "")
	clock.add(time.Second)
	expect("idle, no contact for longer than ready_stall", "no broker answered for 11s")
	contact()
	expect("broker back", "")

	// An idle hour, then data: the stall counts from when bytes started
	// waiting, not from the last acknowledgement an hour ago.
	lastAck.Store(clock.now().UnixNano())
	clock.add(time.Hour)
	contact()
	inflight.Store(100)
	expect("bytes just started waiting", "")
	r.sample()
	clock.add(stall - time.Second)
	contact()
	expect("waiting less than ready_stall", "")
	clock.add(2 * time.Second)
	contact()
	expect("waiting longer than ready_stall without ack", "100 bytes waiting and no acknowledgement for 11s")
	lastAck.Store(clock.now().UnixNano())
	expect("an acknowledgement arrives", "")
	clock.add(stall / 2)
	expect("acknowledgements are recent, broker contact via acks", "")
}

func TestReadinessProbe(t *testing.T) {
	t.Parallel()
	r := NewReadiness(time.Second, func() int64 { return 0 }, func() time.Time { return time.Time{} })
	var up atomic.Bool
	ping := func(ctx context.Context) error {
		if up.Load() {
			return nil
		}
		<-ctx.Done() // an unreachable broker: the request hangs
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.RunProbe(ctx, ping) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if err := r.Check(); err == nil {
		t.Fatal("ready before any broker answered")
	}
	up.Store(true)
	waitFor(t, "ready after the broker answers", func() bool { return r.Check() == nil })
	up.Store(false)
	waitFor(t, "not ready after ready_stall without answer", func() bool { return r.Check() != nil })
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := agenttest.Until(10*time.Second, 10*time.Millisecond, what, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatal(err)
	}
}

// serve runs a Server on a free loopback port and returns its base URL.
func serve(t *testing.T, o Options) string {
	t.Helper()
	o.Listen = "127.0.0.1:0"
	s := New(o)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	url := "http://" + s.ln.Addr().String()
	waitFor(t, "server listening", func() bool {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return url
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	var notReady atomic.Bool
	ready := func() error {
		if notReady.Load() {
			return errors.New("stalled")
		}
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "logship_test_total", Help: "x"}))
	for _, tc := range []struct {
		name string
		o    Options
		code map[string]int
	}{
		{"defaults", Options{Gatherer: reg, Ready: ready},
			map[string]int{"/metrics": 200, "/healthz": 200, "/status": 404, "/debug/pprof/": 404}},
		{"status and pprof", Options{Gatherer: reg, Ready: ready, PProf: true, Status: func() any { return map[string]int{"files": 3} }},
			map[string]int{"/status": 200, "/debug/pprof/": 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(t, tc.o)
			for path, want := range tc.code {
				if code, body := get(t, url+path); code != want {
					t.Errorf("GET %s = %d, want %d: %s", path, code, want, body)
				}
			}
			if tc.o.Status != nil {
				if _, body := get(t, url+"/status"); !strings.Contains(body, `"files": 3`) {
					t.Errorf("/status body %q", body)
				}
			}
			if _, body := get(t, url+"/metrics"); !strings.Contains(body, "logship_test_total 0") {
				t.Errorf("/metrics lacks the registered counter:\n%s", body)
			}
			notReady.Store(false)
			if code, _ := get(t, url+"/readyz"); code != 200 {
				t.Errorf("/readyz = %d while ready", code)
			}
			notReady.Store(true)
			if code, body := get(t, url+"/readyz"); code != 503 || !strings.Contains(body, "stalled") {
				t.Errorf("/readyz = %d %q while not ready, want 503 with the reason", code, body)
			}
		})
	}
}

// TestConnectionLimit: clients holding connections open get at most
// maxConns of them; the rest are closed at once, idle ones are closed by the
// server's timeouts, and the endpoint answers again afterwards (#11 item 12).
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	const limit = 4
	s := New(Options{Listen: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), Ready: func() error { return nil }})
	s.maxConns = limit
	// Long enough that a connection closed within a second was refused by
	// the cap, not timed out.
	s.srv.ReadHeaderTimeout = 3 * time.Second
	s.srv.IdleTimeout = 3 * time.Second
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ll := s.ln.(*limitListener)
	addr := ll.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Exits when ctx is cancelled below.
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// closedWithin reports whether the server closes c within d (a read
	// returning EOF or a reset rather than timing out).
	closedWithin := func(c net.Conn, d time.Duration) bool {
		if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
			t.Fatal(err)
		}
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitFor(t, "the idle connections accepted", func() bool { return ll.active.Load() == limit })
	// The first one becomes an idle keep-alive connection after a request.
	if _, err := held[0].Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(held[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("keep-alive request: %d, close %v", resp.StatusCode, resp.Close)
	}
	var excess []net.Conn
	for range 3 * limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		excess = append(excess, c)
	}
	for i, c := range excess {
		if !closedWithin(c, time.Second) {
			t.Errorf("connection %d beyond the cap of %d was not closed at once", limit+i+1, limit)
		}
		c.Close()
		if n := ll.active.Load(); n > limit {
			t.Fatalf("%d connections open, cap %d", n, limit)
		}
	}
	for i, c := range held {
		if !closedWithin(c, 10*time.Second) {
			t.Errorf("idle connection %d not closed by the server's timeouts", i)
		}
	}
	waitFor(t, "the slots freed", func() bool { return ll.active.Load() == 0 })
	if code, _ := get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d after the idle connections were closed", code)
	}
}

// TestRequestLimits: oversized headers are refused.
func TestRequestLimits(t *testing.T) {
	t.Parallel()
	url := serve(t, Options{Gatherer: prometheus.NewRegistry(), Ready: func() error { return nil }})
	req, err := http.NewRequest(http.MethodGet, url+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("x", 2*maxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d-byte header got %d, want 431", 2*maxHeaderBytes, resp.StatusCode)
	}
}

// TestReadinessStalledTopic: a topic that made no progress makes the agent
// not ready and is named, even while acknowledgements of other topics keep
// arriving; ready again once none is stalled.
func TestReadinessStalledTopic(t *testing.T) {
	t.Parallel()
	r := NewReadiness(time.Second, func() int64 { return 100 }, time.Now)
	var stalled atomic.Pointer[[]string]
	stalled.Store(&[]string{})
	var asked time.Duration
	r.SetStalled(func(after time.Duration) []string { asked = after; return *stalled.Load() })
	if err := r.Check(); err != nil {
		t.Fatalf("acks flowing, nothing stalled: %v", err)
	}
	stalled.Store(&[]string{"topic gone: 3 records in partitions [0] with no acknowledgement for 5s"})
	err := r.Check()
	if err == nil || !strings.Contains(err.Error(), "delivery stalled: topic gone:") {
		t.Fatalf("Check = %v, want it to name the stalled topic", err)
	}
	if asked != time.Second {
		t.Fatalf("stalled asked with %s, want the stall threshold 1s", asked)
	}
}
