package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logship/logship/internal/agenttest"
	"github.com/logship/logship/internal/checkpoint"
)

// ---- container-format writers: the ledger is the logical lines ----

// logicalLine is the text of line seq of file i, as the application wrote
// it: the writer's usual "<file> <seq> <payload>", with a payload length
// that varies with seq.
func logicalLine(i, seq, payloadLen int) string {
	return fmt.Sprintf("%d %d %s", i, seq, strings.Repeat(string(rune('a'+seq%26)), payloadLen))
}

// envelope is the JSON serializer's record value.
type envelope struct {
	TS      string            `json:"ts"`
	Offset  int64             `json:"offset"`
	Message string            `json:"message"`
	Stream  string            `json:"stream"`
	Fields  map[string]string `json:"fields"`
}

// seqOf parses "<file> <seq> ..." at the start of a message.
func seqOf(msg string) (file, seq int, ok bool) {
	f := strings.SplitN(msg, " ", 3)
	if len(f) < 2 {
		return 0, 0, false
	}
	file, err1 := strconv.Atoi(f[0])
	seq, err2 := strconv.Atoi(f[1])
	return file, seq, err1 == nil && err2 == nil
}

// criPod is one container's log directory in the kubelet layout.
type criPod struct {
	ns, pod, uid, container string
	dir                     string
}

// criWriter writes CRI-format logs the way a container runtime does —
// every 4th line split into P partials, every 5th on stderr — and rotates
// them the way kubelet does: rename 0.log to 0.log.<timestamp>, create a new
// 0.log, and later gzip the renamed file and unlink it.
type criWriter struct {
	mu      sync.Mutex
	pods    []criPod
	files   []*os.File
	next    []int
	payload int
	rotated []string // renamed, not yet compressed
	rotations,
	gzipped int
}

func (w *criWriter) write(t testing.TB, i, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var buf bytes.Buffer
	for range n {
		seq := w.next[i]
		w.next[i]++
		line := logicalLine(i, seq, w.payload+seq%50)
		stream := "stdout"
		if seq%5 == 0 {
			stream = "stderr"
		}
		ts := time.Now().UTC().Format(time.RFC3339Nano)
		if seq%4 == 1 {
			third := len(line) / 3
			fmt.Fprintf(&buf, "%s %s P %s\n", ts, stream, line[:third])
			fmt.Fprintf(&buf, "%s %s P %s\n", ts, stream, line[third:2*third])
			line = line[2*third:]
		}
		fmt.Fprintf(&buf, "%s %s F %s\n", ts, stream, line)
	}
	if _, err := w.files[i].Write(buf.Bytes()); err != nil {
		t.Errorf("cri writer: %v", err)
	}
}

// rotate renames pod i's 0.log to 0.log.<timestamp>, keeps writing to the
// old descriptor for a moment (the runtime reopens the log after kubelet's
// rename), then opens a new 0.log. The previously rotated file of the pod
// is compressed and unlinked.
func (w *criWriter) rotate(t testing.TB, i int) {
	w.mu.Lock()
	cur := filepath.Join(w.pods[i].dir, "0.log")
	old := fmt.Sprintf("%s.%s", cur, time.Now().UTC().Format("20060102-150405.000000000"))
	if err := os.Rename(cur, old); err != nil {
		w.mu.Unlock()
		t.Fatalf("rotate: %v", err)
	}
	w.rotations++
	w.mu.Unlock()
	w.write(t, i, 20) // late lines to the renamed file
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.files[i].Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(cur, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w.files[i] = f
	var keep []string
	for _, r := range w.rotated {
		if filepath.Dir(r) == w.pods[i].dir {
			gzipAndUnlink(t, r)
			w.gzipped++
		} else {
			keep = append(keep, r)
		}
	}
	w.rotated = append(keep, old)
}

func gzipAndUnlink(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".gz", buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func (w *criWriter) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.next {
		n += c
	}
	return n
}

// agentHasOpen reports whether the agent process holds a descriptor on path.
func agentHasOpen(a *agentProc, path string) bool {
	return slices.Contains(agentFDs(a, path), path)
}

// agentDeletedFDs counts the agent's descriptors on unlinked files under
// dir, -1 if they cannot be listed.
func agentDeletedFDs(a *agentProc, dir string) int {
	targets, err := agenttest.FDTargets(a.Pid())
	if err != nil {
		return -1
	}
	n := 0
	for _, target := range targets {
		if strings.HasPrefix(target, dir) && strings.HasSuffix(target, " (deleted)") {
			n++
		}
	}
	return n
}

// TestCRIKubeletRotation (F17): two containers' CRI logs under the kubelet
// layout, P/F partials, rotated kubelet-style (rename to a timestamped name,
// late writes to the old descriptor, new 0.log, the renamed file later
// gzipped and unlinked) while the writer keeps writing. Every logical line
// of the ledger is in Kafka exactly once, joined, with the container's
// stream and the pod, namespace, pod uid and container from its path; the
// descriptors of unlinked files are released.
func TestCRIKubeletRotation(t *testing.T) {
	const rounds, perTick = 8, 15
	topic := newTopic(t, 3)
	root := t.TempDir()
	w := &criWriter{payload: 60}
	for _, p := range []criPod{
		{ns: "default", pod: "web-0", uid: "6a1f0c2e-0001", container: "app"},
		{ns: "prod", pod: "api-7d9f-x2", uid: "6a1f0c2e-0002", container: "sidecar"},
	} {
		p.dir = filepath.Join(root, "var", "log", "pods", p.ns+"_"+p.pod+"_"+p.uid, p.container)
		if err := os.MkdirAll(p.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(p.dir, "0.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		w.pods, w.files, w.next = append(w.pods, p), append(w.files, f), append(w.next, 0)
	}
	t.Cleanup(func() {
		for _, f := range w.files {
			f.Close()
		}
	})
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Serializer: "json",
		Glob:  filepath.Join(root, "var", "log", "pods", "*", "*", "*.log"),
		Extra: "format: cri\nclose_inactive: 1s\nfields: {env: e2e}"})
	a.start()

	// The writer: perTick lines per pod every 10 ms (3,000 lines/s in
	// all), rotating each pod's log once the agent has opened the current
	// one — the rate kubelet rotates at is one the agent keeps up with.
	ctx, stop := context.WithCancel(context.Background())
	done := agenttest.Tick(t, ctx, 10*time.Millisecond, func(time.Time) {
		for i := range w.pods {
			w.write(t, i, perTick)
		}
	})
	for round := range rounds {
		i := round % len(w.pods)
		cur := filepath.Join(w.pods[i].dir, "0.log")
		waitFor(t, 30*time.Second, "the agent to open "+cur, func() bool { return agentHasOpen(a, cur) })
		time.Sleep(300 * time.Millisecond) // let the file grow between rotations
		w.rotate(t, i)
	}
	stop()
	<-done
	total := w.total()
	waitShipped(t, topic, total, 2*time.Minute)
	waitFor(t, 30*time.Second, "descriptors of unlinked rotated files released", func() bool {
		return agentDeletedFDs(a, root) == 0
	})
	a.term(30 * time.Second)

	msgs := readAllMessages(t, topic)
	count := map[[2]int]int{}
	bad := 0
	for _, m := range msgs {
		var env envelope
		if err := json.Unmarshal(m.Value, &env); err != nil {
			t.Fatalf("record is not a JSON envelope: %q", m.Value)
		}
		file, seq, ok := seqOf(env.Message)
		if !ok || file >= len(w.pods) {
			t.Fatalf("record message %q is not a whole logical line (partials not joined?)", env.Message)
		}
		if env.Message != logicalLine(file, seq, w.payload+seq%50) {
			bad++
			if bad == 1 {
				t.Errorf("file %d seq %d: message %q not the line written", file, seq, env.Message)
			}
		}
		p := w.pods[file]
		wantStream := "stdout"
		if seq%5 == 0 {
			wantStream = "stderr"
		}
		if env.Stream != wantStream || env.Fields["k8s_namespace"] != p.ns || env.Fields["k8s_pod"] != p.pod ||
			env.Fields["k8s_pod_uid"] != p.uid || env.Fields["k8s_container"] != p.container || env.Fields["env"] != "e2e" {
			t.Fatalf("file %d seq %d: stream %q fields %v", file, seq, env.Stream, env.Fields)
		}
		if ts, err := time.Parse(time.RFC3339Nano, env.TS); err != nil || time.Since(ts) > 10*time.Minute {
			t.Fatalf("file %d seq %d: ts %q is not the runtime's timestamp", file, seq, env.TS)
		}
		count[[2]int{file, seq}]++
	}
	missing, dups := 0, 0
	for i, n := range w.next {
		for seq := range n {
			switch c := count[[2]int{i, seq}]; {
			case c == 0:
				missing++
			case c > 1:
				dups += c - 1
			}
		}
	}
	t.Logf("F17: %d logical lines (1 in 4 as P/P/F partials), %d kubelet rotations, %d rotated files gzipped+unlinked: %d records, missing %d, duplicates %d, wrong content %d",
		total, w.rotations, w.gzipped, len(msgs), missing, dups, bad)
	if missing != 0 || dups != 0 || bad != 0 {
		t.Fatalf("C1/C2: missing %d, duplicates %d, wrong content %d", missing, dups, bad)
	}
}

// TestDockerPartialsRejoined: a Docker json-file log with lines longer than
// 16 KiB, split into 16 KiB "log" chunks as dockerd does; every line arrives
// in Kafka exactly once, byte for byte.
func TestDockerPartialsRejoined(t *testing.T) {
	const lines = 400
	topic := newTopic(t, 1)
	dir := filepath.Join(t.TempDir(), "containers", "0123abcd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "0123abcd-json.log")
	payloadOf := func(seq int) int {
		switch seq % 4 {
		case 0:
			return 16*1024 - 10 // the chunk size, give or take the prefix
		case 1:
			return 3*16*1024 + 100
		case 2:
			return 50
		}
		return 2 * 16 * 1024 // a multiple of the chunk size
	}
	var buf bytes.Buffer
	for seq := range lines {
		line := logicalLine(0, seq, payloadOf(seq)) + "\n"
		for len(line) > 0 {
			chunk := line[:min(16*1024, len(line))]
			line = line[len(chunk):]
			rec, err := json.Marshal(map[string]string{"log": chunk, "stream": "stdout", "time": time.Now().UTC().Format(time.RFC3339Nano)})
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(rec)
			buf.WriteByte('\n')
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*-json.log"),
		Extra: "format: docker"})
	a.start()
	waitShipped(t, topic, lines, 2*time.Minute)
	errs, err := a.Metric("logship_decode_errors_total")
	if err != nil {
		t.Fatal(err)
	}
	a.term(30 * time.Second)
	msgs := readAllMessages(t, topic)
	count := make([]int, lines)
	for _, m := range msgs {
		_, seq, ok := seqOf(string(m.Value))
		if !ok || seq >= lines || string(m.Value) != logicalLine(0, seq, payloadOf(seq)) {
			t.Fatalf("record of %d bytes is not a line written (%.80q...)", len(m.Value), m.Value)
		}
		count[seq]++
	}
	missing, dups := 0, 0
	for _, c := range count {
		if c == 0 {
			missing++
		}
		dups += max(c-1, 0)
	}
	t.Logf("docker: %d lines (%d chunk records, up to %d KiB per line) -> %d records, missing %d, duplicates %d, decode errors %.0f",
		lines, bytes.Count(buf.Bytes(), []byte("\n")), (3*16*1024+120)/1024, len(msgs), missing, dups, errs)
	if missing != 0 || dups != 0 || errs != 0 {
		t.Fatalf("missing %d, duplicates %d, decode errors %.0f", missing, dups, errs)
	}
}

// traceWriter writes multiline events: "<file> <seq> <payload>" followed by
// seq%4 continuation lines "\tat frame <seq>.<j>", one event per write
// call, and keeps the end offset of every event.
type traceWriter struct {
	mu   sync.Mutex
	f    *os.File
	off  int64
	ends []int64
}

func traceEvent(seq int) string {
	var b strings.Builder
	b.WriteString(logicalLine(0, seq, 40))
	for j := range seq % 4 {
		fmt.Fprintf(&b, "\n\tat frame %d.%d", seq, j)
	}
	return b.String()
}

func (w *traceWriter) write(t testing.TB, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var buf bytes.Buffer
	for range n {
		buf.WriteString(traceEvent(len(w.ends)) + "\n")
		w.ends = append(w.ends, w.off+int64(buf.Len()))
	}
	if _, err := w.f.Write(buf.Bytes()); err != nil {
		t.Errorf("trace writer: %v", err)
	}
	w.off += int64(buf.Len())
}

func (w *traceWriter) written() (n int, ends []int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ends), append([]int64(nil), w.ends...)
}

// TestMultilineKill9 (multiline, with F01 once): stack-trace events joined
// by start_pattern while the agent is killed with SIGKILL mid-stream and
// restarted. Every event is in Kafka whole (never cut at a checkpoint),
// none is missing — the last one is shipped by the timeout flush — and
// duplicates stay within the events Kafka acknowledged after the last
// durable checkpoint.
func TestMultilineKill9(t *testing.T) {
	topic := newTopic(t, 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "trace.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &traceWriter{f: f}
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log"),
		Extra: "multiline:\n  start_pattern: '^\\d+ \\d+ '\n  max_lines: 10\n  timeout: 500ms"})
	a.start()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				w.write(t, 10) // 1,000 events/s
			}
		}
	}()
	defer func() { stop(); <-done }()
	waitShipped(t, topic, 2000, time.Minute)
	a.Kill()
	hw := hwSum(t, topic)
	entries, err := checkpoint.ReadFile(filepath.Join(a.Dir, "data", checkpoint.FileName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("checkpoint unreadable after kill -9: %v", err)
	}
	var ck int64
	for _, e := range entries {
		if e.Path == path {
			ck = e.Offset
		}
	}
	_, ends := w.written()
	covered := linesCovered(ends, ck)
	if ck != 0 && (covered == 0 || ends[covered-1] != ck) {
		t.Fatalf("checkpoint %d after kill -9 is not at the end of an event", ck)
	}
	bound := hw - int64(covered)
	time.Sleep(time.Second) // the outage: the agent stays dead while the writer goes on
	a.start()
	time.Sleep(time.Second) // the writer goes on with the restarted agent
	stop()
	<-done
	n, _ := w.written()
	// tally checks every record is a whole event and counts copies.
	tally := func() (count []int, records int) {
		msgs := readAllMessages(t, topic)
		count = make([]int, n)
		for _, m := range msgs {
			_, seq, ok := seqOf(string(m.Value))
			if !ok || seq >= n || string(m.Value) != traceEvent(seq) {
				t.Fatalf("record %.120q is not a whole event as written", m.Value)
			}
			count[seq]++
		}
		return count, len(msgs)
	}
	waitShipped(t, topic, n, 2*time.Minute)
	var count []int
	var records int
	waitFor(t, time.Minute, "every event in Kafka", func() bool {
		count, records = tally()
		return !slices.Contains(count, 0)
	})
	flushes, err := a.Metric("logship_decode_timeout_flushes_total")
	if err != nil {
		t.Fatal(err)
	}
	a.term(30 * time.Second)
	count, records = tally()
	missing, dups := 0, 0
	for _, c := range count {
		if c == 0 {
			missing++
		}
		dups += max(c-1, 0)
	}
	t.Logf("multiline: %d events (1-4 lines each), kill -9 with checkpoint at event %d of %d in Kafka: %d records, missing %d, duplicates %d (bound %d), timeout flushes %.0f",
		n, covered, hw, records, missing, dups, bound, flushes)
	if missing != 0 {
		t.Fatalf("C1: %d events missing", missing)
	}
	if int64(dups) > bound {
		t.Fatalf("C2: %d duplicates exceed the %d events acknowledged after the last checkpoint", dups, bound)
	}
	if flushes < 1 {
		t.Fatal("the last event was not shipped by the timeout flush")
	}
}
