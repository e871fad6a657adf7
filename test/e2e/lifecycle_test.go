package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/agenttest"
	"github.com/logship/logship/internal/checkpoint"
)

// ---- file lifecycle (issue #4): rotation, truncation, deletion, many files ----

// stream is the application side of one log file that gets rotated: it
// writes "<id> <seq> <payload>\n" lines through one descriptor, which it
// reopens at the path only when told to (as an application does on SIGHUP),
// so lines keep landing in a renamed file until then. seq counts the ledger.
type stream struct {
	mu      sync.Mutex
	id      int
	path    string
	f       *os.File
	seq     int
	payload string
	reopens []time.Time // pending reopen deadlines, in order
}

func newStream(t testing.TB, path string, id, payloadLen int) *stream {
	t.Helper()
	s := &stream{id: id, path: path, payload: strings.Repeat("p", payloadLen)}
	s.reopenNow(t)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.f.Close()
	})
	return s
}

func (s *stream) reopenNow(t testing.TB) {
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Errorf("stream: reopen: %v", err)
		return
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f = f
}

// write appends n lines in one write call.
func (s *stream) write(t testing.TB, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf bytes.Buffer
	for range n {
		fmt.Fprintf(&buf, "%d %d %s\n", s.id, s.seq, s.payload)
		s.seq++
	}
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		t.Errorf("stream: write: %v", err)
	}
}

// reopenAfter makes the stream reopen its path d from now.
func (s *stream) reopenAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reopens = append(s.reopens, time.Now().Add(d))
}

// reopened reports whether no reopen is pending.
func (s *stream) reopened() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reopens) == 0
}

func (s *stream) written() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// run writes rate lines per second (in 10 ms ticks, catching up on late
// ticks), performing the pending reopens, until ctx is done; the returned
// channel closes when it stopped.
func (s *stream) run(t testing.TB, ctx context.Context, rate int) <-chan struct{} {
	start, sent := time.Now(), 0
	return agenttest.Tick(t, ctx, 10*time.Millisecond, func(now time.Time) {
		s.mu.Lock()
		for len(s.reopens) > 0 && !s.reopens[0].After(now) {
			s.reopens = s.reopens[1:]
			s.reopenNow(t)
		}
		s.mu.Unlock()
		// Catch up on ticks lost to a busy machine: the rate holds over the
		// run, not per tick.
		due := int(float64(rate) * now.Sub(start).Seconds())
		s.write(t, due-sent)
		sent = due
	})
}

// agentFDs lists the targets of the agent's descriptors that start with
// prefix ("(deleted)" suffixes kept).
func agentFDs(a *agentProc, prefix string) []string {
	targets, _ := agenttest.FDTargets(a.Pid())
	var out []string
	for _, target := range targets {
		if strings.HasPrefix(target, prefix) {
			out = append(out, target)
		}
	}
	return out
}

// metricNow scrapes a metric; absent or unreachable reads as -1 so a
// comparison against a real value fails visibly.
func metricNow(a *agentProc, name string) float64 {
	v, err := a.Metric(name)
	if err != nil {
		return -1
	}
	return v
}

// TestF14RenameRotation: rename+create rotation every second at 20,000
// lines/s for 60 rotations; after each rename the application keeps writing
// to the old descriptor for 2 s before it reopens the path. Every line
// written is in Kafka exactly once, and the rotated files' descriptors are
// released once drained.
func TestF14RenameRotation(t *testing.T) {
	const rotations, rate = 60, 20_000
	topic := newTopic(t, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	s := newStream(t, path, 0, 20)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.start()
	ctx, stop := context.WithCancel(context.Background())
	done := s.run(t, ctx, rate)
	start := time.Now()
	tk := time.NewTicker(time.Second)
	for k := 1; k <= rotations; k++ {
		<-tk.C
		if err := os.Rename(path, fmt.Sprintf("%s.%d", path, k)); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644) // logrotate "create"
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		s.reopenAfter(2 * time.Second)
	}
	tk.Stop()
	waitFor(t, 10*time.Second, "the writer's last reopen", s.reopened)
	stop()
	<-done
	written := s.written()
	t.Logf("wrote %d lines in %s (%.0f lines/s) with %d rotations", written, time.Since(start).Round(time.Millisecond),
		float64(written)/time.Since(start).Seconds(), rotations)
	waitShipped(t, topic, written, 5*time.Minute)
	shipped := time.Since(start)
	waitFor(t, 30*time.Second, "rotated files released", func() bool {
		return len(agentFDs(a, path+".")) == 0
	})
	rot := metricNow(a, "logship_rotations_total")
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check([]int{written})
	if missing != 0 || dups != 0 || tl.malformed != 0 {
		t.Fatalf("F14: missing %d (first %s), duplicates %d, malformed %d of %d lines", missing, first, dups, tl.malformed, written)
	}
	// C4 per file generation: the rotated files and the current one each
	// hold a contiguous range of sequence numbers; within each, Kafka's
	// order must be the file's. (Generations are read concurrently, so
	// across them it may interleave.)
	genOf := map[int]string{}
	gens, _ := filepath.Glob(path + "*")
	for _, g := range gens {
		for _, seq := range ledgerSeqs(t, g) {
			genOf[seq] = g
		}
	}
	last := map[string]int{}
	for _, seq := range tl.order[0] {
		g := genOf[seq]
		if prev, ok := last[g]; ok && seq < prev {
			t.Fatalf("F14: %s: seq %d after %d in Kafka", filepath.Base(g), seq, prev)
		}
		last[g] = seq
	}
	t.Logf("F14: %d lines, %d rename rotations (writer on the old fd for 2 s each): 0 missing, 0 duplicates; "+
		"all in Kafka %.1fs after the start; in file order within each of %d generations; logship_rotations_total %v; "+
		"rotated fds released", written, rotations, shipped.Seconds(), len(gens), rot)
}

// TestF15Copytruncate: copytruncate every second at 20,000 lines/s, with a
// glob that also matches the copies. Every line that survived in either file
// is shipped, none twice; lines lost in the copy→truncate window are
// reported, and logship_truncation_lost_bytes_total never claims more than
// was really lost.
func TestF15Copytruncate(t *testing.T) {
	const rotations, rate = 20, 20_000
	topic := newTopic(t, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	s := newStream(t, path, 0, 20)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: path + "*"})
	a.start()
	ctx, stop := context.WithCancel(context.Background())
	done := s.run(t, ctx, rate)
	tk := time.NewTicker(time.Second)
	for k := 1; k <= rotations; k++ {
		<-tk.C
		copyTruncate(t, path, fmt.Sprintf("%s.%d", path, k))
	}
	tk.Stop()
	stop()
	<-done
	written := s.written()

	// Ground truth of what survived: every line in the copies and the file.
	survived := map[int]bool{}
	lineLen := map[int]int{}
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		for _, seq := range ledgerSeqs(t, f) {
			survived[seq] = true
		}
	}
	for seq := range written {
		lineLen[seq] = len(fmt.Sprintf("0 %d %s\n", seq, s.payload))
	}
	waitShipped(t, topic, len(survived), 3*time.Minute)
	// Everything the agent knows of is acknowledged: the copies and the
	// file are read to their end.
	waitFor(t, 2*time.Minute, "no unacknowledged bytes", func() bool {
		v, err := a.Metric("logship_file_lag_bytes")
		return err == nil && v == 0
	})
	lostMetric := metricNow(a, "logship_truncation_lost_bytes_total")
	copies := metricNow(a, "logship_copies_recognised_total")
	truncs := metricNow(a, "logship_truncations_total")
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missingSurvived, dups, windowLines, windowShipped, lostBytes := 0, 0, 0, 0, 0
	for seq := range written {
		c := tl.count[[2]int{0, seq}]
		if c > 1 {
			dups += c - 1
		}
		switch {
		case survived[seq] && c == 0:
			missingSurvived++
		case !survived[seq]:
			windowLines++
			if c > 0 {
				windowShipped++
			} else {
				lostBytes += lineLen[seq]
			}
		}
	}
	t.Logf("F15: %d lines written, %d copytruncate rotations, %d survived in the files; window: %d lines not in any file, "+
		"%d of them shipped anyway (read before the truncate), %d lost (%d bytes); logship_truncation_lost_bytes_total %v, "+
		"logship_copies_recognised_total %v, logship_truncations_total %v",
		written, rotations, len(survived), windowLines, windowShipped, windowLines-windowShipped, lostBytes, lostMetric, copies, truncs)
	if missingSurvived != 0 || dups != 0 || tl.malformed != 0 {
		t.Fatalf("F15: %d surviving lines missing, %d duplicates, %d malformed", missingSurvived, dups, tl.malformed)
	}
	if lostMetric < 0 || lostMetric > float64(lostBytes) {
		t.Fatalf("F15: logship_truncation_lost_bytes_total %v, but only %d bytes were lost", lostMetric, lostBytes)
	}
	if truncs < rotations || copies < rotations {
		t.Fatalf("F15: %v truncations and %v copies recognised for %d rotations", truncs, copies, rotations)
	}
}

// copyTruncate does what logrotate's copytruncate does: copy, then truncate
// the original in place while the application keeps appending.
func copyTruncate(t *testing.T, path, to string) {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	// logrotate's window between the end of the copy and the truncation
	// (its fsync, chmod/chown of the copy, ...): writes landing now exist
	// in neither file. Part of the workload, not a wait.
	time.Sleep(15 * time.Millisecond)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// ledgerSeqs returns the sequence numbers of the complete ledger lines in a
// file.
func ledgerSeqs(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 3)
		if len(f) < 3 {
			continue
		}
		if seq, err := strconv.Atoi(f[1]); err == nil {
			out = append(out, seq)
		}
	}
	return out
}

// TestF16CompressAndUnlink: rename rotation every 500 ms where the rotated
// file is gzip-compressed and unlinked at once while the application still
// writes to it for 200 ms: every line is shipped from the held descriptor,
// and no descriptor of a deleted file is left open.
func TestF16CompressAndUnlink(t *testing.T) {
	const rotations, rate = 10, 5_000
	topic := newTopic(t, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	s := newStream(t, path, 0, 40)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log"),
		Extra: "close_inactive: 1s"})
	a.start()
	ctx, stop := context.WithCancel(context.Background())
	done := s.run(t, ctx, rate)
	tk := time.NewTicker(500 * time.Millisecond)
	for k := 1; k <= rotations; k++ {
		<-tk.C
		// On a loaded machine the writer may not have reopened the path
		// yet: rotate what exists, as logrotate would.
		waitFor(t, 10*time.Second, "the writer's reopen", s.reopened)
		rotated := fmt.Sprintf("%s.%d", path, k)
		if err := os.Rename(path, rotated); err != nil {
			t.Fatal(err)
		}
		s.reopenAfter(200 * time.Millisecond)
		gzipRotated(t, rotated)
	}
	tk.Stop()
	waitFor(t, 10*time.Second, "the writer's last reopen", s.reopened)
	stop()
	<-done
	written := s.written()
	waitShipped(t, topic, written, 3*time.Minute)
	waitFor(t, 30*time.Second, "descriptors of deleted files released", func() bool {
		return len(agentFDs(a, path+".")) == 0
	})
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check([]int{written})
	if missing != 0 || dups != 0 {
		t.Fatalf("F16: missing %d (first %s), duplicates %d of %d", missing, first, dups, written)
	}
	t.Logf("F16: %d lines, %d rotations with immediate gzip+unlink: 0 missing, 0 duplicates, 0 deleted files held", written, rotations)
}

// gzipRotated compresses path to path.gz and unlinks path, as logrotate's
// compress does (streaming, while the application may still hold path).
func gzipRotated(t *testing.T, path string) {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(path + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(dst)
	if _, err := io.Copy(zw, src); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// TestF19RotationWhileStopped: the agent is stopped (SIGTERM), the file is
// rotated twice with new lines in every generation, and the agent started
// again: the old files are found by identity under their new names and
// finished; nothing acknowledged before the stop is shipped again.
func TestF19RotationWhileStopped(t *testing.T) {
	topic := newTopic(t, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	s := newStream(t, path, 0, 60)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: path + "*"})
	a.start()
	s.write(t, 20_000)
	waitShipped(t, topic, 20_000, time.Minute)
	a.term(30 * time.Second)

	s.write(t, 3_000) // unshipped tail of the first file
	mustRename(t, path, path+".1")
	s.reopenNow(t)
	s.write(t, 3_000)
	mustRename(t, path+".1", path+".2")
	mustRename(t, path, path+".1")
	s.reopenNow(t)
	s.write(t, 3_000)

	a.start()
	written := s.written()
	waitShipped(t, topic, written, 2*time.Minute)
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check([]int{written})
	if missing != 0 || dups != 0 {
		t.Fatalf("F19: missing %d (first %s), duplicates %d of %d", missing, first, dups, written)
	}
	t.Logf("F19: %d lines, 2 rotations while stopped: 0 missing, 0 re-shipped", written)
}

// TestF20InodeReuse: a shipped file is deleted while the agent is stopped
// and a new file gets its inode: the new file is shipped from 0, the old one
// is not shipped again.
func TestF20InodeReuse(t *testing.T) {
	const victims, lines = 20, 250
	topic := newTopic(t, 3)
	dir := t.TempDir()
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.start()
	freed := map[uint64]bool{}
	var olds []*stream
	for i := range victims {
		s := newStream(t, filepath.Join(dir, fmt.Sprintf("v%02d.log", i)), i, 60)
		s.write(t, lines)
		freed[inodeOf(t, s.path)] = true
		olds = append(olds, s)
	}
	waitShipped(t, topic, victims*lines, time.Minute)
	a.term(30 * time.Second)
	for _, s := range olds {
		s.mu.Lock()
		s.f.Close() // the application is gone: nothing holds the inode
		s.mu.Unlock()
		if err := os.Remove(s.path); err != nil {
			t.Fatal(err)
		}
	}
	// ext4 hands freed inodes, once the transaction that freed them is
	// committed, to files created next near them; other processes on the
	// machine may take some, so several were freed.
	syscall.Sync()
	var ino uint64
	for i := range 5000 {
		p := filepath.Join(dir, fmt.Sprintf("n%04d.tmp", i))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if ino = inodeOf(t, p); freed[ino] {
			mustRename(t, p, filepath.Join(dir, "new.log"))
			break
		}
	}
	if !freed[ino] {
		t.Fatalf("F20: none of %d freed inodes was reused by 5000 new files", victims)
	}
	nw := newStream(t, filepath.Join(dir, "new.log"), victims, 60)
	nw.write(t, 100) // shorter than the old file's checkpoint offset
	a.start()
	waitShipped(t, topic, victims*lines+100, time.Minute)
	a.term(30 * time.Second)
	written := make([]int, victims+1)
	for i := range victims {
		written[i] = lines
	}
	written[victims] = nw.written()
	tl := readTally(t, topic)
	missing, dups, first := tl.check(written)
	if missing != 0 || dups != 0 {
		t.Fatalf("F20: missing %d (first %s), duplicates %d", missing, first, dups)
	}
	t.Logf("F20: inode %d reused by a new file while the agent was stopped: new file shipped from 0, old not re-shipped", ino)
}

// TestF21TruncateRewriteShorter: a file is truncated in place and rewritten
// with shorter content: the new content is shipped once.
func TestF21TruncateRewriteShorter(t *testing.T) {
	topic := newTopic(t, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	first := newStream(t, path, 0, 60)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.start()
	first.write(t, 5_000)
	waitShipped(t, topic, 5_000, time.Minute)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	second := newStream(t, path, 1, 60)
	second.write(t, 200)
	waitShipped(t, topic, 5_200, time.Minute)
	truncs := metricNow(a, "logship_truncations_total")
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, firstMissing := tl.check([]int{first.written(), second.written()})
	if missing != 0 || dups != 0 || truncs != 1 {
		t.Fatalf("F21: missing %d (first %s), duplicates %d, truncations %v", missing, firstMissing, dups, truncs)
	}
	t.Logf("F21: truncated in place, rewritten shorter: both contents once, logship_truncations_total %v", truncs)
}

// TestF22DeletedWhileBrokerPaused: with the broker paused, a file much larger
// than the memory budget is deleted before the agent could read it: after
// the broker resumes, every line is shipped through the held descriptor,
// which is then released.
func TestF22DeletedWhileBrokerPaused(t *testing.T) {
	topic := newTopic(t, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	s := newStream(t, path, 0, 100)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log"),
		MemoryLimit: "8MiB", Extra: "close_inactive: 1s"})
	a.start()
	s.write(t, 10)
	waitShipped(t, topic, 10, time.Minute)
	resume := pauseBroker(t)
	for range 40 {
		s.write(t, 5_000) // 40 × 5,000 lines × 111 bytes ≈ 22 MB, beyond the 8 MiB budget
	}
	waitFor(t, time.Minute, "the memory budget to fill", func() bool {
		v, err := a.Metric("logship_inflight_bytes")
		return err == nil && v >= 6<<20
	})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	resume()
	written := s.written()
	waitShipped(t, topic, written, 3*time.Minute)
	waitFor(t, 30*time.Second, "deleted file released", func() bool { return len(agentFDs(a, path)) == 0 })
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check([]int{written})
	if missing != 0 || dups != 0 {
		t.Fatalf("F22: missing %d (first %s), duplicates %d of %d", missing, first, dups, written)
	}
	t.Logf("F22: %d lines (%d MB) deleted unread while the broker was paused: all shipped from the held fd, fd released",
		written, written*111/1_000_000)
}

// TestManyFilesLowFDLimit (F31): 5,000 files matched by one glob, the agent
// under `prlimit --nofile=1024`: every line of every file is shipped once,
// also lines appended after the files were first read; peak RSS reported.
func TestManyFilesLowFDLimit(t *testing.T) {
	const files, first, second = 5_000, 20, 5
	topic := newTopic(t, 3)
	dir := t.TempDir()
	payload := strings.Repeat("m", 40)
	appendLines := func(i, from, to int) {
		var b bytes.Buffer
		for seq := from; seq < to; seq++ {
			fmt.Fprintf(&b, "%d %d %s\n", i, seq, payload)
		}
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("f%04d.log", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(b.Bytes()); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	for i := range files {
		appendLines(i, 0, first)
	}
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.Bin = prlimitWrapper(t, agentBinPlain, 1024)
	start := time.Now()
	a.start()
	waitShipped(t, topic, files*first, 5*time.Minute)
	firstRound := time.Since(start)
	for i := range files {
		appendLines(i, first, first+second)
	}
	waitShipped(t, topic, files*(first+second), 5*time.Minute)
	peak := a.PeakRSS()
	waits := metricNow(a, "logship_open_budget_waits_total")
	emfile := metricNow(a, "logship_open_emfile_total")
	limits, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", a.Pid()))
	a.term(30 * time.Second)
	if !strings.Contains(string(limits), "Max open files            1024") {
		t.Fatalf("the agent did not run under the 1024 fd limit:\n%s", limits)
	}
	written := make([]int, files)
	for i := range written {
		written[i] = first + second
	}
	tl := readTally(t, topic)
	missing, dups, firstMissing := tl.check(written)
	if missing != 0 || dups != 0 {
		t.Fatalf("F31: missing %d (first %s), duplicates %d", missing, firstMissing, dups)
	}
	t.Logf("F31: %d files under RLIMIT_NOFILE 1024: all %d lines once (first round in %.1fs); peak RSS %.1f MiB; "+
		"logship_open_budget_waits_total %v, logship_open_emfile_total %v", files, files*(first+second), firstRound.Seconds(),
		float64(peak)/(1<<20), waits, emfile)
}

// prlimitWrapper returns an executable that runs bin under an fd limit.
func prlimitWrapper(t *testing.T, bin string, nofile int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "logship-prlimit")
	script := fmt.Sprintf("#!/bin/sh\nexec prlimit --nofile=%d:%d %s \"$@\"\n", nofile, nofile, bin)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHugeLine50MiB: a single 50 MiB line without a newline, then normal
// lines: the agent's RSS stays bounded (memory_limit 32MiB), the huge line
// arrives as max_line_bytes parts that add up to its length, and every
// normal line is shipped once.
func TestHugeLine50MiB(t *testing.T) {
	const huge, normal = 50 << 20, 2_000
	topic := newTopic(t, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log"),
		Extra: "max_line_bytes: 256KiB"})
	a.Bin = agentBinPlain
	a.start()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("H"), 1<<20)
	for range huge / len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	parts := huge / (256 << 10)
	// All parts but the last ship before the newline exists (a part is cut
	// once max_line_bytes+1 bytes without a newline are known).
	waitShipped(t, topic, parts-1, 2*time.Minute)
	s := newStream(t, path, 0, 60)
	if _, err := s.f.WriteString("\n"); err != nil {
		t.Fatal(err)
	}
	s.write(t, normal)
	waitShipped(t, topic, parts+normal, 2*time.Minute)
	peak := a.PeakRSS()
	a.term(30 * time.Second)
	msgs := readAllMessages(t, topic)
	tl := tallyOf(msgs)
	hugeBytes := 0
	for _, m := range msgs {
		if len(m.Value) > 0 && m.Value[0] == 'H' {
			hugeBytes += len(m.Value)
		}
	}
	missing, dups, first := tl.check([]int{s.written()})
	t.Logf("50 MiB line then %d lines: peak RSS %.1f MiB; huge line as %d records totalling %d bytes; normal lines missing %d, duplicates %d",
		normal, float64(peak)/(1<<20), tl.malformed, hugeBytes, missing, dups)
	if missing != 0 || dups != 0 {
		t.Fatalf("normal lines: missing %d (first %s), duplicates %d", missing, first, dups)
	}
	if hugeBytes != huge {
		t.Fatalf("huge line shipped as %d bytes, want %d", hugeBytes, huge)
	}
	if peak <= 0 || peak > 100<<20 {
		t.Fatalf("peak RSS %d bytes, want under 100 MiB", peak)
	}
}

func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// TestF32CopytruncateClosedFileRestart (F32): max_open_files 1, broker
// paused. app.log is read to its end (nothing acknowledged), other.log takes
// the only descriptor, then app.log is copytruncated to app.log.1 (matched by
// the glob). The checkpoint must never cover the unacknowledged lines under
// either name (C3), and after a kill -9, or a stop whose shutdown_timeout
// expires, and a restart with the broker back, no line is missing (C1).
// The paused broker is then killed: resumed, it would still process the
// produce requests buffered in its sockets and deliver the lines a stopped
// agent had sent, hiding their loss. (Stopped instead of paused, it makes
// the pipeline block in Emit, so app.log never gets the descriptor back.)
func TestF32CopytruncateClosedFileRestart(t *testing.T) {
	for _, stop := range []string{"kill9", "shutdown_timeout"} {
		t.Run(stop, func(t *testing.T) {
			topic := newTopic(t, 3)
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			app := newStream(t, path, 0, 20)
			other := newStream(t, filepath.Join(dir, "other.log"), 1, 20)
			a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log*"),
				Extra: "max_open_files: 1"})
			if stop == "shutdown_timeout" {
				cfg, err := os.ReadFile(a.ConfigPath)
				if err != nil {
					t.Fatal(err)
				}
				cfg = bytes.Replace(cfg, []byte("shutdown_timeout: 20s"), []byte("shutdown_timeout: 1s"), 1)
				if err := os.WriteFile(a.ConfigPath, cfg, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			a.start()
			const acked = 10
			app.write(t, acked)
			waitShipped(t, topic, acked, time.Minute)
			if err := cluster.Pause(0); err != nil {
				t.Fatal(err)
			}
			healed := false
			defer func() {
				if !healed {
					_ = cluster.Resume(0)
				}
			}()
			app.write(t, 200)
			waitFor(t, time.Minute, "app.log read to its end", func() bool {
				v, err := a.Metric("logship_lines_read_total")
				return err == nil && v >= acked+200
			})
			other.write(t, 5) // takes the only descriptor: app.log is closed
			waitFor(t, time.Minute, "other.log read", func() bool {
				v, err := a.Metric("logship_lines_read_total")
				return err == nil && v >= acked+205
			})
			copyTruncate(t, path, path+".1")
			app.write(t, 5)
			waitFor(t, time.Minute, "the copy in the checkpoint", func() bool {
				entries, err := checkpoint.ReadFile(filepath.Join(a.Dir, "data", checkpoint.FileName))
				return err == nil && slices.ContainsFunc(entries, func(e checkpoint.FileState) bool { return e.Path == path+".1" })
			})
			// C3: Kafka holds app.log's first `acked` lines and nothing else.
			a.Signal(syscall.SIGSTOP)
			entries, err := checkpoint.ReadFile(filepath.Join(a.Dir, "data", checkpoint.FileName))
			a.Signal(syscall.SIGCONT)
			if err != nil {
				t.Fatal(err)
			}
			appLimit := lineEnds(0, acked, 20)[acked-1]
			for _, e := range entries {
				limit := appLimit
				if e.Path == other.path {
					limit = 0 // nothing of it was acknowledged
				}
				if e.Offset > limit {
					t.Errorf("C3: checkpoint entry %s at offset %d covers lines Kafka does not hold (it holds up to %d)",
						e.Path, e.Offset, limit)
				}
			}

			if stop == "kill9" {
				a.Kill()
			} else {
				a.term(30 * time.Second) // acknowledgements never come: the 1 s shutdown_timeout expires
			}
			if err := cluster.Kill(0); err != nil {
				t.Fatal(err)
			}
			restart(t)
			healed = true
			a.start()
			written := []int{app.written(), other.written()}
			// With one descriptor the files are read in turn: poll Kafka until
			// nothing is missing, or report what still is at the deadline.
			var tl *tally
			missing, dups, first := 0, 0, ""
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
				tl = readTally(t, topic)
				if missing, dups, first = tl.check(written); missing == 0 || time.Now().After(deadline) {
					break
				}
			}
			a.term(30 * time.Second)
			if missing != 0 {
				t.Fatalf("C1: %d lines missing (first %s)", missing, first)
			}
			t.Logf("F32 (%s): %d lines, 0 missing, %d duplicates (sent again after the restart); checkpoint never ahead",
				stop, written[0]+written[1], dups)
		})
	}
}

// TestStartAtEndCrashNewFile (issue 11, item 10): start_at: end and a
// checkpoint interval far longer than the test. With the broker paused, a
// file created after start-up is read; the agent is killed before any
// periodic checkpoint save. After the restart (broker back) the file is
// not taken for one present at start-up: none of its lines is missing, and
// the history of the file present at the first start is still skipped.
func TestStartAtEndCrashNewFile(t *testing.T) {
	topic := newTopic(t, 3)
	dir := t.TempDir()
	history := newStream(t, filepath.Join(dir, "old.log"), 0, 20)
	history.write(t, 50) // before the first start: skipped by start_at: end
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log"),
		Extra: "start_at: end"})
	cfg, err := os.ReadFile(a.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte("checkpoint_interval: 200ms"), []byte("checkpoint_interval: 1h"), 1)
	if err := os.WriteFile(a.ConfigPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	a.start()
	waitFor(t, time.Minute, "old.log opened", func() bool {
		v, err := a.Metric("logship_files_open")
		return err == nil && v >= 1
	})
	if err := cluster.Pause(0); err != nil {
		t.Fatal(err)
	}
	healed := false
	defer func() {
		if !healed {
			_ = cluster.Resume(0)
		}
	}()
	fresh := newStream(t, filepath.Join(dir, "new.log"), 1, 20)
	fresh.write(t, 100)
	waitFor(t, time.Minute, "new.log read", func() bool {
		v, err := a.Metric("logship_lines_read_total")
		return err == nil && v >= 100
	})
	a.Kill()
	// Killed paused, the broker never processes the requests buffered in
	// its sockets: those lines are only in the files now.
	if err := cluster.Kill(0); err != nil {
		t.Fatal(err)
	}
	restart(t)
	healed = true
	a.start()
	waitFor(t, 2*time.Minute, "both files open and every known byte acknowledged", func() bool {
		open, err1 := a.Metric("logship_files_open")
		lag, err2 := a.Metric("logship_file_lag_bytes")
		return err1 == nil && err2 == nil && open >= 2 && lag == 0
	})
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check([]int{0, fresh.written()})
	if missing != 0 {
		t.Fatalf("%d lines of the file created after start-up missing (first %s)", missing, first)
	}
	if n := len(tl.order[0]); n != 0 {
		t.Fatalf("%d lines of old.log's history shipped; start_at: end skips them", n)
	}
	t.Logf("start_at: end, kill -9 within the checkpoint interval: %d lines of the new file, 0 missing, %d duplicates, history skipped",
		fresh.written(), dups)
}
