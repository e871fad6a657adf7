package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest"
)

// TestNetworkFaultsF13 puts a TCP proxy (kafkatest/netfault) between the
// agent and the broker — the broker advertises the proxy's port, so
// bootstrap and leader connections both pass it — and, while lines keep
// coming, adds 500 ms of latency each way, black-holes every connection for
// 60 s, resets every connection (existing and new) for 5 s, and cuts the
// connections three times. Checks: C1 0 missing; C2 duplicates ≤
// logship_records_retried_total; C5 after each heal, everything written
// before the heal reaches Kafka within resumeWithin; C6 the agent never
// exits; /readyz fails during the black hole and recovers after it. The
// verifier reads over the broker's direct PLAINTEXT listener.
func TestNetworkFaultsF13(t *testing.T) {
	// Parallel: the long fault tests overlap (they mostly wait on
	// elections, outages and restarts), which keeps the suite short.
	t.Parallel()
	const (
		rate         = 1000 // lines per second over all files
		latency      = 500 * time.Millisecond
		latencyFor   = 10 * time.Second
		blackholeFor = 60 * time.Second
		resetFor     = 5 * time.Second
		cuts         = 3
		resumeWithin = time.Minute
	)
	c := kafkatest.StartForTest(t, kafkatest.Options{
		Listeners: []kafkatest.Listener{{Name: "PROXIED", Protocol: kafkatest.Plaintext, Proxied: true}},
	})
	proxy := c.Proxy(0, "PROXIED")
	topic := newTopicOn(t, c, 3)
	dir := t.TempDir()
	w := newWriter(t, dir, 4, 80)
	a := newAgent(t, agentConfig{Brokers: c.ListenerAddr(0, "PROXIED"), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.start()
	ctx, stop := context.WithCancel(context.Background())
	done := w.Run(t, ctx, rate)
	defer func() { stop(); <-done }()
	waitShippedOn(t, c, topic, 1000, time.Minute)

	// caughtUp waits (C5) until everything written so far is in Kafka and
	// returns how long that took.
	caughtUp := func(what string) time.Duration {
		t.Helper()
		t0 := time.Now()
		want := w.Total()
		waitShippedOn(t, c, topic, want, resumeWithin)
		if !a.Running() {
			t.Fatalf("agent exited during %s: %v", what, a.ExitErr())
		}
		return time.Since(t0)
	}
	var report []string

	// 500 ms each way: slower, but delivery goes on during the fault.
	proxy.SetLatency(latency)
	hw0 := hwSumOn(c, topic)
	t0 := time.Now()
	waitFor(t, latencyFor+resumeWithin, "records delivered through the added latency", func() bool {
		return hwSumOn(c, topic) >= hw0+int64(rate) // about one second of lines
	})
	progress := time.Since(t0)
	if rest := latencyFor - time.Since(t0); rest > 0 {
		time.Sleep(rest) // the rest of the fault's duration
	}
	during := hwSumOn(c, topic) - hw0
	proxy.Heal()
	report = append(report, fmt.Sprintf("latency %s: %d records acknowledged during %s (first %d after %s); caught up %s after heal",
		latency, during, latencyFor, rate, progress.Round(time.Millisecond), caughtUp("latency").Round(time.Millisecond)))

	// Black hole: nothing passes, connections stay open. /readyz turns
	// unready once delivery has stalled (the agent's threshold is 30 s).
	proxy.Blackhole()
	holeStart := time.Now()
	time.Sleep(5 * time.Second) // requests already past the proxy settle
	hwIn := hwSumOn(c, topic)
	waitFor(t, blackholeFor-10*time.Second, "/readyz to report the stall during the black hole", func() bool {
		return a.Readyz() == http.StatusServiceUnavailable
	})
	unready := time.Since(holeStart)
	time.Sleep(blackholeFor - time.Since(holeStart)) // the rest of the black hole
	hwOut := hwSumOn(c, topic)
	if hwOut != hwIn {
		t.Fatalf("%d records reached the broker through the black hole", hwOut-hwIn)
	}
	conns := proxy.Conns()
	proxy.Heal()
	resumed := caughtUp("black hole")
	waitFor(t, 30*time.Second, "/readyz to report ready again", func() bool {
		return a.Readyz() == http.StatusOK
	})
	report = append(report, fmt.Sprintf("black hole %s: 0 records passed, %d connections held, /readyz unready after %s; caught up %s after heal, ready again",
		blackholeFor, conns, unready.Round(time.Millisecond), resumed.Round(time.Millisecond)))

	// Resets: every existing and every new connection gets a RST.
	proxy.Reset()
	time.Sleep(resetFor) // the fault's duration
	proxy.Heal()
	report = append(report, fmt.Sprintf("reset %s: caught up %s after heal", resetFor, caughtUp("resets").Round(time.Millisecond)))

	// Cuts: established connections closed (FIN); new ones work.
	for range cuts {
		proxy.Cut()
		time.Sleep(time.Second) // traffic between cuts
	}
	report = append(report, fmt.Sprintf("%d cuts 1s apart: caught up %s after the last", cuts, caughtUp("cuts").Round(time.Millisecond)))

	stop()
	<-done
	waitShippedOn(t, c, topic, w.Total(), 2*time.Minute)
	retried, err := a.Metric("logship_records_retried_total")
	if err != nil {
		t.Fatal(err)
	}
	sendErrors, _ := a.Metric("logship_send_errors_total")
	a.term(30 * time.Second)
	tl := readTallyOn(t, c, topic)
	missing, dups, first := tl.check(w.Written())
	for _, r := range report {
		t.Log("F13 " + r)
	}
	t.Logf("F13: %d lines, missing %d, duplicates %d, retried %.0f, send errors %.0f", w.Total(), missing, dups, retried, sendErrors)
	if missing != 0 || tl.malformed != 0 {
		t.Fatalf("C1: %d missing (first %s), %d malformed", missing, first, tl.malformed)
	}
	if float64(dups) > retried {
		t.Fatalf("C2: %d duplicates but only %.0f records re-sent", dups, retried)
	}
	if dups == 0 {
		checkOrder(t, tl)
	}
}
