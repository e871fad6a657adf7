package e2e

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/logship/logship/internal/agenttest"
)

// fdCount is the number of descriptors process pid holds.
func fdCount(t testing.TB, pid int) int {
	t.Helper()
	targets, err := agenttest.FDTargets(pid)
	if err != nil {
		t.Fatalf("count descriptors: %v", err)
	}
	return len(targets)
}

// TestF36HTTPConnectionFlood: thousands of idle and slow loopback connections
// to the HTTP endpoint while shipping (#11 item 12). Shipping continues with
// every line in Kafka, and the agent's descriptors stay bounded by the
// endpoint's connection cap (64) instead of growing with the flood.
func TestF36HTTPConnectionFlood(t *testing.T) {
	const (
		conns     = 3000
		slowEvery = 2 // every second connection sends a partial request
		rate      = 2000
		// Cap of the endpoint (64), the listener, and slack for Kafka
		// connections, log files and the runtime.
		fdSlack = 64 + 48
	)
	topic := newTopic(t, 3)
	dir := t.TempDir()
	w := newWriter(t, dir, 4, 100)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.start()
	ctx, stopWriting := context.WithCancel(context.Background())
	written := w.Run(t, ctx, rate)
	waitShipped(t, topic, rate/2, time.Minute)
	pid := a.Pid()
	base := fdCount(t, pid)

	// The flood: dial conns connections over a few seconds and hold them
	// open; the slow ones start a request and never finish it.
	var mu sync.Mutex
	var held []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	refused := 0
	peak := base
	flood := time.Now()
	for i := range conns {
		c, err := net.DialTimeout("tcp", a.HTTP, 2*time.Second)
		if err != nil {
			refused++
			continue
		}
		if i%slowEvery == 0 {
			_, _ = c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n"))
		}
		mu.Lock()
		held = append(held, c)
		mu.Unlock()
		if i%100 == 0 {
			peak = max(peak, fdCount(t, pid))
			if !a.Running() {
				t.Fatalf("agent exited during the flood: %v", a.ExitErr())
			}
		}
	}
	// Hold them while the endpoint's timeouts run (read header 5 s).
	holdUntil := time.Now().Add(8 * time.Second)
	for time.Now().Before(holdUntil) {
		peak = max(peak, fdCount(t, pid))
		time.Sleep(100 * time.Millisecond) // sampling period, not a wait for a condition
	}
	t.Logf("flood: %d connections dialed in %s (%d refused at dial), agent descriptors %d before, peak %d; peak RSS %d MiB (race build)",
		conns, time.Since(flood).Round(time.Millisecond), refused, base, peak, a.PeakRSS()>>20)
	if peak > base+fdSlack {
		t.Errorf("agent descriptors peaked at %d during the flood, %d before: the connection cap does not hold", peak, base)
	}
	// The idle and slow connections are closed by the agent: its
	// descriptors come back.
	waitFor(t, 30*time.Second, "agent descriptors back near the baseline", func() bool {
		return fdCount(t, pid) <= base+16
	})

	stopWriting()
	<-written
	total := w.Total()
	waitShipped(t, topic, total, 2*time.Minute)
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check(w.Written())
	if missing != 0 || tl.malformed != 0 {
		t.Fatalf("missing %d (first: %s), duplicates %d, malformed %d of %d lines", missing, first, dups, tl.malformed, total)
	}
	t.Logf("shipped %d lines during the flood: 0 missing, %d duplicates", total, dups)
}
