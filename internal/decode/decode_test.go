package decode

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/tailer"
)

const ts1 = "2026-11-26T21:00:00.123456789Z"

func TestCRI(t *testing.T) {
	t.Parallel()
	testFormat(t, config.Pipeline{Format: "cri"}, "/x/a.log", []formatCase{
		{"full lines", []string{ts1 + " stdout F hello", ts1 + " stderr F world"}, []string{"hello", "world"}, 0},
		{"partials joined", []string{ts1 + " stdout P ab", ts1 + " stdout P cd", ts1 + " stdout F ef"}, []string{"abcdef"}, 0},
		{"empty messages", []string{ts1 + " stdout F", ts1 + " stdout F "}, []string{"", ""}, 0},
		{"message keeps spaces", []string{ts1 + " stdout F  a b  "}, []string{" a b  "}, 0},
		{"extra tags", []string{ts1 + " stdout P:x a", ts1 + " stdout F:y b"}, []string{"ab"}, 0},
		{"malformed shipped raw", []string{"not cri", ts1 + " stdout F ok"}, []string{"not cri", "ok"}, 1},
		{"bad time", []string{"yesterday stdout F x"}, []string{"yesterday stdout F x"}, 1},
		{"bad stream", []string{ts1 + " stdin F x"}, []string{ts1 + " stdin F x"}, 1},
		{"bad tag", []string{ts1 + " stdout X x"}, []string{ts1 + " stdout X x"}, 1},
		{"partial cut by malformed", []string{ts1 + " stdout P ab", "junk", ts1 + " stdout F c"}, []string{"ab", "junk", "c"}, 1},
		{"partials of two streams", []string{ts1 + " stdout P ab", ts1 + " stderr F err", ts1 + " stdout F c"}, []string{"ab", "err", "c"}, 0},
	})
}

// formatCase is one decoding case: the lines emitted, the messages shipped
// and how many lines were counted as malformed.
type formatCase struct {
	name      string
	lines     []string
	want      []string
	malformed int
}

// testFormat runs each case on a fresh decoder of pc for a file at path.
func testFormat(t *testing.T, pc config.Pipeline, path string, cases []formatCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, pc, path)
			r.emit(tc.lines...)
			if got := r.sink.messages(); !slices.Equal(got, tc.want) {
				t.Fatalf("messages %.200q, want %.200q", got, tc.want)
			}
			if got := r.counter("logship_decode_errors_total"); got != float64(tc.malformed) {
				t.Fatalf("decode errors %v, want %d", got, tc.malformed)
			}
			r.settled()
		})
	}
}

func TestCRIEventFields(t *testing.T) {
	t.Parallel()
	r := newRig(t, config.Pipeline{Format: "cri"}, "/var/log/pods/prod_web-1_0f3c/nginx/0.log")
	r.emit(ts1+" stderr P a", ts1+" stderr F b", "2026-11-26T21:00:01Z stdout F c")
	evs := r.sink.events()
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	want, _ := time.Parse(time.RFC3339Nano, ts1)
	if !evs[0].Time.Equal(want) || evs[0].Stream != "stderr" || evs[1].Stream != "stdout" {
		t.Fatalf("event 0: time %v stream %q; event 1 stream %q", evs[0].Time, evs[0].Stream, evs[1].Stream)
	}
	if evs[0].Ack.Records() != 2 || evs[1].Ack.Records() != 1 {
		t.Fatalf("acks cover %d and %d lines", evs[0].Ack.Records(), evs[1].Ack.Records())
	}
	if evs[0].End != int64(2*len(ts1+" stderr P a")+2) {
		t.Fatalf("event 0 ends at %d", evs[0].End)
	}
	wantFields := []Field{{FieldNamespace, "prod"}, {FieldPod, "web-1"}, {FieldPodUID, "0f3c"}, {FieldContainer, "nginx"}}
	if !slices.Equal(evs[0].Fields, wantFields) {
		t.Fatalf("fields %v", evs[0].Fields)
	}
	r.settled()
}

// The checkpoint passes a joined event only once its record is acked, and
// never stops inside it.
func TestCheckpointNeverInsideEvent(t *testing.T) {
	t.Parallel()
	r := newRig(t, config.Pipeline{Format: "cri"}, "/x/a.log")
	r.sink.hold = true
	r.emit(ts1+" stdout P a", ts1+" stdout P b")
	if n := len(r.sink.events()); n != 0 || r.tr.Committed() != 0 {
		t.Fatalf("%d events, committed %d before the F line", n, r.tr.Committed())
	}
	r.emit(ts1+" stdout F c", ts1+" stdout F d")
	acks := r.sink.acks
	if len(acks) != 2 {
		t.Fatalf("%d events", len(acks))
	}
	acks[1].Done()
	if r.tr.Committed() != 0 {
		t.Fatalf("committed %d while the joined event is unacknowledged", r.tr.Committed())
	}
	acks[0].Done()
	r.settled()
}

func dockerLine(t *testing.T, log, stream string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{"log": log, "stream": stream, "time": ts1})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDocker(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789abcdef", 1024) // 16 KiB chunk
	testFormat(t, config.Pipeline{Format: "docker"}, "/x/c-json.log", []formatCase{
		{"lines", []string{dockerLine(t, "hello\n", "stdout"), dockerLine(t, "err\r\n", "stderr")}, []string{"hello", "err"}, 0},
		{"16KiB partials joined", []string{dockerLine(t, big, "stdout"), dockerLine(t, big, "stdout"), dockerLine(t, "end\n", "stdout")}, []string{big + big + "end"}, 0},
		{"escapes", []string{dockerLine(t, "tab\there \"q\" \u00e9\n", "stdout")}, []string{"tab\there \"q\" \u00e9"}, 0},
		{"malformed json", []string{`{"log":"x`, dockerLine(t, "ok\n", "stdout")}, []string{`{"log":"x`, "ok"}, 1},
		{"no log key", []string{`{"stream":"stdout","time":"` + ts1 + `"}`}, []string{`{"stream":"stdout","time":"` + ts1 + `"}`}, 1},
		{"bad time", []string{`{"log":"a\n","stream":"stdout","time":"now"}`}, []string{`{"log":"a\n","stream":"stdout","time":"now"}`}, 1},
	})
}

func TestMultiline(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		format   config.Format
		maxLines int
		lines    []string
		want     []string // before the timeout flush
		flushed  []string // after it
	}{
		{"stack traces", "raw", 0,
			[]string{"2026-1 boom", "  at a", "  at b", "2026-2 ok", "2026-3 x", "  at c"},
			[]string{"2026-1 boom\n  at a\n  at b", "2026-2 ok"}, []string{"2026-3 x\n  at c"}},
		{"leading continuation", "raw", 0, []string{"  orphan", "2026-1 a"}, []string{"  orphan"}, []string{"2026-1 a"}},
		{"max lines", "raw", 2, []string{"2026-1 a", " b", " c", " d", " e"}, []string{"2026-1 a\n b", " c\n d"}, []string{" e"}},
		{"after cri", "cri", 0,
			[]string{ts1 + " stdout F 2026-1 a", ts1 + " stdout P  at", ts1 + " stdout F  x", ts1 + " stdout F 2026-2 b"},
			[]string{"2026-1 a\n at x"}, []string{"2026-2 b"}},
		{"streams mixed in one event", "cri", 0,
			[]string{ts1 + " stdout F 2026-1 a", ts1 + " stderr P  e", ts1 + " stderr F rr", ts1 + " stdout F 2026-2 b"},
			[]string{"2026-1 a\n err"}, []string{"2026-2 b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, config.Pipeline{Format: tc.format, Multiline: config.Multiline{StartPattern: `^\d{4}-`, MaxLines: tc.maxLines, Timeout: time.Second}}, "/x/a.log")
			r.emit(tc.lines...)
			if got := r.sink.messages(); !slices.Equal(got, tc.want) {
				t.Fatalf("messages %q, want %q", got, tc.want)
			}
			r.flushAll()
			if got := r.sink.messages()[len(tc.want):]; !slices.Equal(got, tc.flushed) {
				t.Fatalf("flushed %q, want %q", got, tc.flushed)
			}
			if got := r.counter("logship_decode_timeout_flushes_total"); got != 1 {
				t.Fatalf("timeout flushes %v, want 1", got)
			}
			r.settled()
		})
	}
}

// Run flushes the last event of a file that went quiet, so its acks
// resolve without another line.
func TestRunFlushesQuietFile(t *testing.T) {
	t.Parallel()
	r := newRig(t, config.Pipeline{Multiline: config.Multiline{StartPattern: `^\S`, MaxLines: 10, Timeout: 50 * time.Millisecond}}, "/x/a.log")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.d.Run(ctx) }()
	r.emit("first", " more")
	deadline := time.Now().Add(10 * time.Second)
	for r.tr.Committed() != r.end {
		if time.Now().After(deadline) {
			t.Fatalf("pending event not flushed: committed %d of %d", r.tr.Committed(), r.end)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		}
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
	if got := r.sink.messages(); !slices.Equal(got, []string{"first\n more"}) {
		t.Fatalf("messages %q", got)
	}
	r.settled()
}

func TestOversize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		policy  config.OversizePolicy
		lines   []string
		want    []string
		parts   []int
		trunc   []bool
		counted int
	}{
		{"split at line boundaries", "split", []string{"2026 aaaa", "bbbbbbbb", "cccccccc", "dd"},
			[]string{"2026 aaaa\nbbbbbbbb", "cccccccc\ndd"}, []int{1, 2}, []bool{false, false}, 1},
		{"truncate", "truncate", []string{"2026 aaaa", "bbbbbbbb", "cccccccc", "dd"},
			[]string{"2026 aaaa\nbbbbbbbb\nc"}, []int{0}, []bool{true}, 1},
		{"fits", "truncate", []string{"2026 aaaa", "b"}, []string{"2026 aaaa\nb"}, []int{0}, []bool{false}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, config.Pipeline{MaxLineBytes: 20, OversizePolicy: tc.policy,
				Multiline: config.Multiline{StartPattern: `^2026`, MaxLines: 100, Timeout: time.Second}}, "/x/a.log")
			r.emit(tc.lines...)
			r.flushAll()
			evs := r.sink.events()
			var got []string
			var parts []int
			var trunc []bool
			for _, ev := range evs {
				got = append(got, string(ev.Message))
				parts = append(parts, ev.Part)
				trunc = append(trunc, ev.Truncated)
				if len(ev.Message) > 20 {
					t.Fatalf("event of %d bytes over max_line_bytes", len(ev.Message))
				}
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(parts, tc.parts) || !slices.Equal(trunc, tc.trunc) {
				t.Fatalf("got %q parts %v truncated %v, want %q %v %v", got, parts, trunc, tc.want, tc.parts, tc.trunc)
			}
			if len(evs) > 1 && !evs[len(evs)-1].Last {
				t.Fatal("last part not marked Last")
			}
			if got := r.counter("logship_decode_oversize_total"); got != float64(tc.counted) {
				t.Fatalf("oversize counted %v, want %d", got, tc.counted)
			}
			r.settled()
		})
	}
}

// Parts of a line the tailer split at max_line_bytes continue the line
// started by part 1; a CRI header is only in part 1.
func TestTailerSplitParts(t *testing.T) {
	t.Parallel()
	r := newRig(t, config.Pipeline{Format: "cri", MaxLineBytes: 1 << 20}, "/x/a.log")
	ls := r.lines(ts1+" stdout F abc", "def", "gh", ts1+" stdout F next")
	ls[0].Part, ls[1].Part, ls[2].Part, ls[2].Last = 1, 2, 3, true
	if err := r.d.Emit(context.Background(), r.src, ls); err != nil {
		t.Fatal(err)
	}
	if got := r.sink.messages(); !slices.Equal(got, []string{"abcdefgh", "next"}) {
		t.Fatalf("messages %q", got)
	}
	r.settled()
}

func TestPathFields(t *testing.T) {
	t.Parallel()
	cases := []struct {
		path string
		want []Field
	}{
		{"/var/log/pods/kube-system_coredns-abc_7d1e-11/coredns/0.log",
			[]Field{{FieldNamespace, "kube-system"}, {FieldPod, "coredns-abc"}, {FieldPodUID, "7d1e-11"}, {FieldContainer, "coredns"}}},
		{"/var/log/pods/ns_p_u/c/1.log.20261126-210000",
			[]Field{{FieldNamespace, "ns"}, {FieldPod, "p"}, {FieldPodUID, "u"}, {FieldContainer, "c"}}},
		{"/var/log/containers/web-1_prod_nginx-0123abcd.log",
			[]Field{{FieldNamespace, "prod"}, {FieldPod, "web-1"}, {FieldContainer, "nginx"}, {FieldContainerID, "0123abcd"}}},
		{"/var/log/app/app.log", nil},
		{"/var/log/pods/bad/c/0.log", nil},
		{"/var/log/containers/nounderscores.log", nil},
		{"/var/log/containers/a_b_c.log", nil},
		{"0.log", nil},
	}
	for _, tc := range cases {
		if got := PathFields(tc.path); !slices.Equal(got, tc.want) {
			t.Errorf("PathFields(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Name: "a", Format: "syslog"},
		{Name: "b", Oversize: "drop"},
		{Name: "c", Multiline: config.Multiline{StartPattern: "("}},
	} {
		o.Next = &recSink{}
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := New(Options{Name: "d"}); err == nil {
		t.Error("New without a sink accepted")
	}
}

func ExamplePathFields() {
	fmt.Println(PathFields("/var/log/pods/prod_web-1_0f3c/nginx/0.log"))
	// Output: [{k8s_namespace prod} {k8s_pod web-1} {k8s_pod_uid 0f3c} {k8s_container nginx}]
}

// BenchmarkDecodeCRI measures the per-line cost of the CRI path (F lines
// and one P/P/F join in four lines), acks resolved by the sink.
func BenchmarkDecodeCRI(b *testing.B) {
	r := newRig(b, config.Pipeline{Format: "cri"}, "/var/log/pods/ns_pod_uid/c/0.log")
	texts := []string{
		ts1 + " stdout F " + strings.Repeat("x", 100),
		ts1 + " stdout P " + strings.Repeat("y", 40),
		ts1 + " stdout P " + strings.Repeat("y", 40),
		ts1 + " stdout F " + strings.Repeat("y", 40),
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.d.Emit(context.Background(), r.src, r.lines(texts...)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(texts)), "ns/line")
}

// TestConcurrentEmitAndRun: readers of several files emit while Run flushes
// with a tiny timeout; every line of every file is resolved exactly once
// and the events of each file arrive in file order.
func TestConcurrentEmitAndRun(t *testing.T) {
	t.Parallel()
	const files, batches = 4, 200
	sink := &orderSink{last: map[*tailer.Source]int64{}}
	d, err := New(Options{Name: "c", Format: "cri", MaxLineBytes: 64,
		Multiline: config.Multiline{StartPattern: `^start`, MaxLines: 3, Timeout: time.Millisecond}, Next: sink})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(ctx) }()
	rigs := make([]*rig, files)
	var wg sync.WaitGroup
	for i := range rigs {
		r := newRig(t, config.Pipeline{Name: "c", MaxLineBytes: 64}, fmt.Sprintf("/x/%d.log", i))
		r.d = d
		rigs[i] = r
		wg.Add(1)
		go func() { // exits after its batches
			defer wg.Done()
			for b := range batches {
				ls := r.lines(ts1+" stdout F start "+strconv.Itoa(b), ts1+" stdout P  at", ts1+" stdout F  x")
				if err := d.Emit(ctx, r.src, ls[:1+b%3]); err != nil {
					t.Error(err)
					return
				}
				if err := d.Emit(ctx, r.src, ls[1+b%3:]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range rigs {
		for r.tr.Committed() != r.end {
			if time.Now().After(deadline) {
				t.Fatalf("%s: committed %d of %d", r.src.Path, r.tr.Committed(), r.end)
			}
			time.Sleep(time.Millisecond)
		}
		r.settled()
	}
	cancel()
	if err := <-runDone; err != context.Canceled {
		t.Fatalf("Run: %v", err)
	}
	if sink.outOfOrder.Load() != 0 {
		t.Fatalf("%d events out of file order", sink.outOfOrder.Load())
	}
}

// orderSink resolves acks at once and counts events whose End is not after
// the previous event's of the same file.
type orderSink struct {
	mu         sync.Mutex
	last       map[*tailer.Source]int64
	outOfOrder atomic.Int64
}

func (s *orderSink) EmitEvents(_ context.Context, src *tailer.Source, evs []Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		if ev.End <= s.last[src] {
			s.outOfOrder.Add(1)
		}
		s.last[src] = ev.End
		ev.Ack.Done()
	}
	return nil
}

// TestMalformedLoggedOncePerPath: malformed records are counted each, but
// logged once per path per LogInterval, the next line saying how many were
// not logged since.
func TestMalformedLoggedOncePerPath(t *testing.T) {
	t.Parallel()
	var logs syncLog
	pc := config.Pipeline{Name: "test", Format: "cri", MaxLineBytes: config.DefaultMaxLineBytes}
	r := newRig(t, pc, "/x/a.log")
	o := pipelineOptions(pc)
	o.Next, o.Logger, o.LogInterval = r.sink, slog.New(slog.NewTextHandler(&logs, nil)), time.Hour
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	r.emit("junk 1", "junk 2", "junk 3")
	r.src = &tailer.Source{Pipeline: pc.Name, Path: "/x/b.log"}
	r.emit("junk 4")
	out := logs.String()
	if n := strings.Count(out, "malformed record shipped as it is"); n != 2 {
		t.Fatalf("%d log lines for 4 malformed records in 2 files, want 2 (one per path):\n%s", n, out)
	}
	if !strings.Contains(out, "path=/x/a.log since_last_log=0") || !strings.Contains(out, "path=/x/b.log since_last_log=0") {
		t.Fatalf("a path's first line is missing:\n%s", out)
	}
}

// syncLog is a log sink safe for concurrent writes.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
