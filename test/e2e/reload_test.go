package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/agenttest"
)

// pendingWriter writes logical lines in one of three formats so that an
// event is nearly always pending in the agent's decoder: every tick ends
// with the first piece of a line (a CRI "P" partial, a Docker chunk without
// its newline, a multiline event's start line) and the next tick begins
// with its last piece.
type pendingWriter struct {
	mu     sync.Mutex
	format string // multiline | cri | docker
	files  []*os.File
	next   []int
	open   []bool // file i ends with the first piece of line next[i]-1
}

func newPendingWriter(t *testing.T, dir, format string, n int) *pendingWriter {
	t.Helper()
	w := &pendingWriter{format: format}
	for i := range n {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("app-%02d.log", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		w.files, w.next, w.open = append(w.files, f), append(w.next, 0), append(w.open, false)
	}
	t.Cleanup(func() {
		for _, f := range w.files {
			f.Close()
		}
	})
	return w
}

// pendingEvent is the message the agent must ship for line seq of file i.
func pendingEvent(format string, i, seq int) string {
	line := logicalLine(i, seq, 60+seq%40)
	if format == "multiline" {
		return line + "\n\tat frame " + fmt.Sprint(seq)
	}
	return line
}

// pieces splits line seq of file i into its first and last piece as
// written to the file (each ending in "\n").
func (w *pendingWriter) pieces(i, seq int) (first, last string) {
	ev := pendingEvent(w.format, i, seq)
	switch w.format {
	case "multiline":
		head, tail, _ := strings.Cut(ev, "\n")
		return head + "\n", tail + "\n"
	case "cri":
		ts := time.Now().UTC().Format(time.RFC3339Nano)
		half := len(ev) / 2
		return fmt.Sprintf("%s stdout P %s\n", ts, ev[:half]), fmt.Sprintf("%s stdout F %s\n", ts, ev[half:])
	}
	half := len(ev) / 2
	rec := func(s string) string {
		b, _ := json.Marshal(map[string]string{"log": s, "stream": "stdout", "time": time.Now().UTC().Format(time.RFC3339Nano)})
		return string(b) + "\n"
	}
	return rec(ev[:half]), rec(ev[half:] + "\n")
}

// tick closes file i's open line, writes n-1 whole lines and opens one
// more, in one write call; final closes the open line only.
func (w *pendingWriter) tick(t testing.TB, i, n int, final bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var buf bytes.Buffer
	if w.open[i] {
		_, last := w.pieces(i, w.next[i]-1)
		buf.WriteString(last)
		w.open[i] = false
	}
	if !final {
		for k := range n {
			first, last := w.pieces(i, w.next[i])
			w.next[i]++
			buf.WriteString(first)
			if k < n-1 {
				buf.WriteString(last)
			} else {
				w.open[i] = true
			}
		}
	}
	if _, err := w.files[i].Write(buf.Bytes()); err != nil {
		t.Errorf("pending writer: %v", err)
	}
}

func (w *pendingWriter) written() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.next...)
}

// TestReloadPendingEvents (F33): SIGHUP changes a multiline, a CRI and a
// Docker pipeline 50 times while writers keep an event pending in each
// decoder. Every reload abandons the pending events (their lines are read
// again by the successor) instead of orphaning their acks: each reload
// takes well under a second (no wait for acks that never come), Kafka ends
// with every event once — 0 missing, 0 duplicates, none cut — and the
// shared budget (logship_inflight_bytes) is back to 0.
func TestReloadPendingEvents(t *testing.T) {
	const reloads, perTick = 50, 3
	formats := []string{"multiline", "cri", "docker"}
	root := t.TempDir()
	writers := map[string]*pendingWriter{}
	topics := map[string]string{}
	for _, f := range formats {
		dir := filepath.Join(root, f)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writers[f] = newPendingWriter(t, dir, f, 2)
		topics[f] = newTopic(t, 2)
	}
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topics["multiline"], Glob: filepath.Join(root, "none", "*.log")})
	writeConfig := func(gen int) {
		var b strings.Builder
		fmt.Fprintf(&b, "agent:\n  host: test-host\n  data_dir: %s\n  memory_limit: 32MiB\n  shutdown_timeout: 20s\n  checkpoint_interval: 200ms\n  log_level: debug\n",
			filepath.Join(a.Dir, "data"))
		fmt.Fprintf(&b, "http:\n  listen: %q\nkafka:\n  brokers: [%q]\n  linger: 5ms\n  request_timeout: 10s\n  retry_backoff_max: 1s\npipelines:\n", a.HTTP, cluster.Bootstrap())
		for _, f := range formats {
			fmt.Fprintf(&b, "  - name: %s\n    topic: %s\n    key: source\n    serializer: json\n    rescan_interval: 200ms\n    paths: [%q]\n    fields: {gen: \"%d\"}\n",
				f, topics[f], filepath.Join(root, f, "*.log"), gen)
			switch f {
			case "multiline":
				b.WriteString("    multiline: {start_pattern: '^\\d+ \\d+ ', max_lines: 10, timeout: 5s}\n")
			default:
				fmt.Fprintf(&b, "    format: %s\n", f)
			}
		}
		if err := os.WriteFile(a.ConfigPath, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(0)
	a.start()

	ctx, stop := context.WithCancel(context.Background())
	done := agenttest.Tick(t, ctx, 10*time.Millisecond, func(time.Time) {
		for _, w := range writers {
			for i := range w.files {
				w.tick(t, i, perTick, false)
			}
		}
	})
	defer func() { stop(); <-done }()

	took := regexp.MustCompile(`"msg":"configuration reloaded".*"took":([0-9]+)`) // JSON log, nanoseconds
	stopped := regexp.MustCompile(`"msg":"reload: pipeline stopped"[^}]*`)
	var slowest, slowestSeen time.Duration
	for gen := 1; gen <= reloads; gen++ {
		before := map[string]int64{}
		for _, f := range formats {
			before[f] = hw(t, topics[f])
		}
		writeConfig(gen)
		at := time.Now()
		a.Signal(syscall.SIGHUP)
		waitFor(t, 30*time.Second, fmt.Sprintf("reload %d", gen), func() bool {
			return strings.Count(mustRead(t, a.LogPath), "configuration reloaded") >= gen
		})
		seen := time.Since(at) // includes SIGHUP delivery and up to one 50 ms poll of the log
		log := mustRead(t, a.LogPath)
		m := took.FindAllStringSubmatch(log, -1)
		if len(m) < gen {
			t.Fatalf("reload %d: %d reload durations in the agent log", gen, len(m))
		}
		ns, err := strconv.ParseInt(m[gen-1][1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		d := time.Duration(ns)
		slowest, slowestSeen = max(slowest, d), max(slowestSeen, seen)
		if d >= time.Second {
			phases := stopped.FindAllString(log, -1)
			t.Fatalf("reload %d took %s (seen after %s), want < 1s; its pipelines: %v",
				gen, d, seen.Round(time.Millisecond), phases[max(len(phases)-len(formats), 0):])
		}
		// The successors ship: every topic grows after the reload.
		for _, f := range formats {
			waitShipped(t, topics[f], int(before[f])+1, 30*time.Second)
		}
	}
	stop()
	<-done
	for _, w := range writers {
		for i := range w.files {
			w.tick(t, i, 0, true)
		}
	}
	for _, f := range formats {
		n := 0
		for _, c := range writers[f].written() {
			n += c
		}
		waitShipped(t, topics[f], n, 2*time.Minute)
	}
	var inflight float64
	waitFor(t, 30*time.Second, "logship_inflight_bytes back to 0", func() bool {
		v, err := a.Metric("logship_inflight_bytes")
		inflight = v
		return err == nil && v == 0
	})
	a.term(30 * time.Second)

	for _, f := range formats {
		written := writers[f].written()
		count := map[[2]int]int{}
		for _, m := range readAllMessages(t, topics[f]) {
			var env envelope
			if err := json.Unmarshal(m.Value, &env); err != nil {
				t.Fatalf("%s: record %.120q is not an envelope: %v", f, m.Value, err)
			}
			i, seq, ok := seqOf(env.Message)
			if !ok || i >= len(written) || seq >= written[i] || env.Message != pendingEvent(f, i, seq) {
				t.Fatalf("%s: record %.120q is not a whole event as written", f, env.Message)
			}
			count[[2]int{i, seq}]++
		}
		missing, dups, total := 0, 0, 0
		for i, n := range written {
			total += n
			for seq := range n {
				c := count[[2]int{i, seq}]
				if c == 0 {
					missing++
				}
				dups += max(c-1, 0)
			}
		}
		t.Logf("%s: %d events over %d reloads: missing %d, duplicates %d", f, total, reloads, missing, dups)
		if missing != 0 || dups != 0 {
			t.Errorf("%s: missing %d, duplicates %d", f, missing, dups)
		}
	}
	t.Logf("slowest reload %s (seen by the test after %s); inflight bytes at the end %.0f",
		slowest.Round(time.Millisecond), slowestSeen.Round(time.Millisecond), inflight)
}
