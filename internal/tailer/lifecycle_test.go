package tailer

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
)

// numbered returns lines "<prefix> <i> <pad>" for i in [from, to), each
// long enough that a few of them exceed the fingerprint size.
func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s %d %s\n", prefix, i, strings.Repeat("x", 60))
	}
	return b.String()
}

// counts returns how many times each line was received.
func counts(recs []rec) map[string]int {
	m := map[string]int{}
	for _, r := range recs {
		m[r.data]++
	}
	return m
}

// checkExactlyOnce fails unless every line of want was received exactly
// once and nothing else was.
func checkExactlyOnce(t *testing.T, recs []rec, want string) {
	t.Helper()
	got := counts(recs)
	lines := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	missing, dups := 0, 0
	for _, l := range lines {
		switch c := got[l]; {
		case c == 0:
			missing++
		case c > 1:
			dups += c - 1
		}
		delete(got, l)
	}
	if missing != 0 || dups != 0 || len(got) != 0 {
		t.Fatalf("missing %d, duplicates %d, unexpected %d of %d lines", missing, dups, len(got), len(lines))
	}
}

// TestCopytruncateCopyMatchedByGlob: the glob also matches the copy
// logrotate makes (app.log.1). The copy is recognised by its first bytes and
// read from where the original was read to: the lines the reader had not
// reached before the truncation come from the copy, nothing twice.
func TestCopytruncateCopyMatchedByGlob(t *testing.T) {
	t.Parallel()
	sink := &testSink{}
	h := newHarness(t, Settings{Paths: []string{"app.log*"}}, sink, 0, func(o *Options) { o.MaxWindow, o.ReadBufferBytes = 10, 256 })
	path := h.path("app.log")
	first := numbered("a", 0, 100)
	writeFile(t, path, first)
	h.start()
	h.waitLines(10) // the reader stops at the window cap, most lines unread
	// copytruncate: copy, then truncate; the application writes on.
	copyFile(t, path, path+".1")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	second := numbered("b", 0, 20)
	appendFile(t, path, second)
	sink.ackAll()
	waitFor(t, "all lines", func() bool { sink.ackAll(); return h.sink.count() >= 120 })
	waitFor(t, "copy recognised", func() bool { return h.metric("logship_copies_recognised_total") == 1 })
	checkExactlyOnce(t, h.sink.snapshot(), first+second)
	fromCopy := 0
	for _, r := range h.sink.snapshot() {
		if r.src.Path == path+".1" {
			fromCopy++
		}
	}
	if fromCopy == 0 {
		t.Error("no line came from the copy: the reader was not behind")
	}
	if got := h.metric("logship_truncation_lost_bytes_total"); got != 0 {
		t.Errorf("lost bytes %v, want 0 (everything was in the copy)", got)
	}
	if got := h.metric("logship_truncations_total"); got != 1 {
		t.Errorf("truncations %v, want 1", got)
	}
}

// TestCopytruncateCopyFoundBeforeTruncationSeen: the copy appears while the
// original's reader has not noticed the truncation yet (it is the live
// generation with the same first bytes): the copy waits for it instead of
// being shipped from 0.
func TestCopytruncateCopyFoundBeforeTruncationSeen(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{Paths: []string{"app.log*"}, CloseInactive: 2 * time.Second}, nil, 0)
	path := h.path("app.log")
	first := numbered("a", 0, 100)
	writeFile(t, path, first)
	h.start()
	h.waitLines(100)
	more := numbered("a", 100, 150)
	appendFile(t, path, more)
	copyFile(t, path, path+".1")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	second := numbered("b", 0, 5)
	appendFile(t, path, second)
	waitFor(t, "copy recognised", func() bool { return h.metric("logship_copies_recognised_total") == 1 })
	waitFor(t, "all lines", func() bool { return h.sink.count() >= 155 })
	checkExactlyOnce(t, h.sink.snapshot(), first+more+second)
}

// TestCopytruncateLossCounted: when the copy is not matched by the glob and
// the reader was behind, the bytes it never read are counted, exactly.
func TestCopytruncateLossCounted(t *testing.T) {
	t.Parallel()
	sink := &testSink{}
	h := newHarness(t, Settings{}, sink, 0, func(o *Options) { o.MaxWindow, o.ReadBufferBytes = 10, 256 })
	path := h.path("app.log")
	first := numbered("a", 0, 100)
	writeFile(t, path, first)
	h.start()
	h.waitLines(10)
	copyFile(t, path, path+".1") // not matched by *.log
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "new\n")
	waitFor(t, "new line", func() bool { sink.ackAll(); return slices.Contains(h.sink.datas(), "new") })
	// The lines read before the truncation end where the reader stopped.
	var readEnd int64
	for _, r := range h.sink.snapshot() {
		if strings.HasPrefix(r.data, "a ") {
			readEnd = r.end
		}
	}
	if readEnd >= int64(len(first)) {
		t.Fatalf("the reader read the whole file (%d bytes) before the truncation", readEnd)
	}
	want := float64(int64(len(first)) - readEnd)
	waitFor(t, "loss counted", func() bool { return h.metric("logship_truncation_lost_bytes_total") == want })
	t.Logf("copytruncate with the reader %v bytes behind: logship_truncation_lost_bytes_total = %v", want, h.metric("logship_truncation_lost_bytes_total"))
}

// TestTruncateRewriteShorter (F21): truncated in place and rewritten with
// shorter content: the new content is shipped once, nothing counted lost.
func TestTruncateRewriteShorter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{}, nil, 0)
	path := h.path("a.log")
	first := numbered("a", 0, 50)
	writeFile(t, path, first)
	h.start()
	h.waitLines(50)
	second := numbered("b", 0, 10)
	rewriteInPlace(t, path, second)
	waitFor(t, "rewritten lines", func() bool { return h.sink.count() >= 60 })
	waitFor(t, "truncation counted", func() bool { return h.metric("logship_truncations_total") == 1 })
	checkExactlyOnce(t, h.sink.snapshot(), first+second)
	waitFor(t, "offset", func() bool { st, _ := h.stateOf(path); return st.Offset == int64(len(second)) })
	if got := h.metric("logship_truncation_lost_bytes_total"); got != 0 {
		t.Errorf("lost bytes %v, want 0", got)
	}
}

// TestRewriteSameSizeNoGrowth: overwritten in place with as many bytes right
// after a read and then left alone, a file shows neither a size
// below the offset nor bytes past it; the write event alone does not
// recheck the first bytes (the read that follows a growth does), so the
// reader's next poll must find the new content.
func TestRewriteSameSizeNoGrowth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{}, nil, 0)
	path := h.path("a.log")
	first := numbered("a", 0, 50)
	writeFile(t, path, first)
	h.start()
	h.waitLines(50)
	second := numbered("b", 0, 50)
	if len(second) != len(first) {
		t.Fatalf("contents of %d and %d bytes, want equal sizes", len(first), len(second))
	}
	// Overwritten from offset 0 without O_TRUNC: the size never changes.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(second), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	waitFor(t, "rewritten lines", func() bool { return h.sink.count() >= 100 })
	waitFor(t, "truncation counted", func() bool { return h.metric("logship_truncations_total") == 1 })
	checkExactlyOnce(t, h.sink.snapshot(), first+second)
}

// TestCompressAndUnlink (F16): rotated by rename, the writer continues on the
// old descriptor, then the rotated file is compressed and unlinked at once:
// every line comes from the held descriptor, which is then released.
func TestCompressAndUnlink(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{}, nil, 0)
	path := h.path("app.log")
	old, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	h.start()
	first := numbered("a", 0, 30)
	fmt.Fprint(old, first)
	h.waitLines(30)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	late := numbered("a", 30, 60)
	fmt.Fprint(old, late) // after the rename
	writeFile(t, path, "new 0\n")
	gz, err := os.Create(path + ".1.gz")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(gz)
	if _, err := io.Copy(zw, src); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	gz.Close()
	src.Close()
	if err := os.Remove(path + ".1"); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(old, "a 60 after-unlink\n") // the application has not reopened yet
	old.Close()
	waitFor(t, "all lines", func() bool { return h.sink.count() >= 62 })
	checkExactlyOnce(t, h.sink.snapshot(), first+late+"a 60 after-unlink\nnew 0\n")
	waitFor(t, "held descriptor released", func() bool { return openFDsTo(t, path+".1") == 0 })
	waitFor(t, "one file open", func() bool { return h.metric("logship_files_open") == 1 })
}

// TestInodeReuseLive (F20): a drained, deleted file's inode is given to a new
// file: the new file is shipped from 0 and the old one is not re-shipped.
func TestInodeReuseLive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{}, nil, 0)
	h.start()
	old := h.path("old.log")
	first := numbered("a", 0, 20)
	writeFile(t, old, first)
	h.waitLines(20)
	oldDev, oldIno := inode(t, old)
	if err := os.Remove(old); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted file released", func() bool { return h.metric("logship_files_open") == 0 })
	// The filesystem decides when a freed inode is handed out again (and
	// other processes may take it), so the reuse is staged: the drained,
	// unlinked generation is given the inode of a new file, as if that file
	// had got the old one's inode.
	newPath := h.path("new.tmp")
	second := numbered("b", 0, 5)
	writeFile(t, newPath, second)
	newDev, newIno := inode(t, newPath)
	h.tl.mu.Lock()
	g := h.tl.gens[fileKey{oldDev, oldIno}]
	if g == nil {
		h.tl.mu.Unlock()
		t.Fatal("the deleted file's generation is not kept")
	}
	g.mu.Lock()
	unlinked := g.unlinked
	delete(h.tl.gens, g.key)
	g.key = fileKey{newDev, newIno}
	h.tl.gens[g.key] = g
	g.mu.Unlock()
	h.tl.mu.Unlock()
	if !unlinked {
		t.Fatal("the deleted file's generation is not marked unlinked")
	}
	mustRename(t, newPath, h.path("new.log"))
	waitFor(t, "new file lines", func() bool { return h.sink.count() >= 25 })
	checkExactlyOnce(t, h.sink.snapshot(), first+second)
	waitFor(t, "new generation committed from 0", func() bool {
		st, ok := h.stateOf(h.path("new.log"))
		return ok && st.Inode == newIno && st.Offset == int64(len(second))
	})
}

// TestSmallFileBelowFingerprint: files shorter than the fingerprint are
// shipped, grow, and resume after a restart without duplicates.
func TestSmallFileBelowFingerprint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{}, nil, 0)
	path := h.path("s.log")
	writeFile(t, path, "a\n")
	h.start()
	h.waitLines(1)
	appendFile(t, path, "b\n")
	h.waitLines(2)
	waitFor(t, "committed", func() bool { st, _ := h.stateOf(path); return st.Offset == 4 && st.FingerprintLen == 4 })
	st, _ := h.stateOf(path)
	h.stop()

	appendFile(t, path, "c\n")
	h2 := newHarness(t, Settings{Paths: []string{"unused"}}, nil, 0, withRestore(st))
	h2.retarget(filepath.Join(filepath.Dir(path), "*.log"))
	h2.start()
	h2.waitLines(1)
	if got := h2.sink.datas(); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("after restart %q, want [c]", got)
	}
}

// TestRotationWhileStopped (F19): the agent stops, the file is rotated twice
// (one rotated name still matched, one deleted), new lines are written; on
// start the old file is found by identity under its new name and finished;
// nothing acknowledged is re-shipped.
func TestRotationWhileStopped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{Paths: []string{"app.log*"}}, nil, 0)
	path := h.path("app.log")
	first := numbered("a", 0, 40)
	writeFile(t, path, first)
	h.start()
	h.waitLines(40)
	waitFor(t, "committed", func() bool { st, _ := h.stateOf(path); return st.Offset == int64(len(first)) })
	snap := h.tl.Snapshot()
	h.stop()

	// While stopped: more lines, rename to .1, a new file, rename .1 → .2,
	// .1 again, and a third file.
	late := numbered("a", 40, 60)
	appendFile(t, path, late)
	mustRename(t, path, path+".1")
	second := numbered("b", 0, 10)
	writeFile(t, path, second)
	mustRename(t, path+".1", path+".2")
	mustRename(t, path, path+".1")
	third := numbered("c", 0, 3)
	writeFile(t, path, third)

	h2 := newHarness(t, Settings{Paths: []string{"unused"}}, nil, 0, withRestore(snap...))
	h2.retarget(path + "*")
	h2.start()
	waitFor(t, "lines after restart", func() bool { return h2.sink.count() >= 33 })
	checkExactlyOnce(t, h2.sink.snapshot(), late+second+third)
}

// TestReplacedByDirectory: a tailed file is deleted and a directory takes
// its name: the old file is drained, the directory skipped and counted.
func TestReplacedByDirectory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{}, nil, 0)
	path := h.path("a.log")
	writeFile(t, path, "x\n")
	h.start()
	h.waitLines(1)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "directory skipped", func() bool {
		return h.metric("logship_discovery_errors_total", "reason", "not_regular") == 1
	})
	waitFor(t, "old file released", func() bool { return h.metric("logship_files_open") == 0 })
	writeFile(t, h.path("b.log"), "y\n")
	h.waitLines(2)
}

// TestOpenBudgetFairness (F31): more files than max_open_files: every line of
// every file is read, never more descriptors than the budget, and files
// that keep growing do not starve the others.
func TestOpenBudgetFairness(t *testing.T) {
	t.Parallel()
	const files, budget = 60, 4
	h := newHarness(t, Settings{MaxOpenFiles: budget}, nil, 0)
	var want strings.Builder
	for i := range files {
		c := numbered(strconv.Itoa(i), 0, 20)
		writeFile(t, h.path(fmt.Sprintf("f%03d.log", i)), c)
		want.WriteString(c)
	}
	h.start()
	maxOpen := 0.0
	waitFor(t, "first round", func() bool {
		maxOpen = max(maxOpen, h.metric("logship_files_open"))
		return h.sink.count() >= files*20
	})
	// A second round to every file: parked files are reopened when they grow.
	for i := range files {
		c := numbered(strconv.Itoa(i), 20, 25)
		appendFile(t, h.path(fmt.Sprintf("f%03d.log", i)), c)
		want.WriteString(c)
	}
	waitFor(t, "second round", func() bool {
		maxOpen = max(maxOpen, h.metric("logship_files_open"))
		return h.sink.count() >= files*25
	})
	checkExactlyOnce(t, h.sink.snapshot(), want.String())
	if maxOpen > budget {
		t.Errorf("logship_files_open reached %v, budget %d", maxOpen, budget)
	}
	if fds := openFDsUnder(t, h.dir); fds > budget {
		t.Errorf("%d descriptors open under the directory, budget %d", fds, budget)
	}
	waits := h.metric("logship_open_budget_waits_total")
	if waits == 0 {
		t.Error("no budget waits counted")
	}
	t.Logf("%d files, max_open_files %d: all %d lines once, peak open %v, budget waits %v", files, budget, files*25, maxOpen, waits)
}

// TestEMFILE: the process runs out of descriptors below max_open_files: opens
// that fail with EMFILE are counted and retried as descriptors free up;
// nothing crashes and every line is read.
func TestEMFILE(t *testing.T) {
	const files = 40
	// The log goes to a file: read while the tailer may still write, with
	// no shared buffer.
	logs, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	h := newHarness(t, Settings{MaxOpenFiles: 512}, nil, 0, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	var want strings.Builder
	for i := range files {
		c := numbered(strconv.Itoa(i), 0, 10)
		writeFile(t, h.path(fmt.Sprintf("f%03d.log", i)), c)
		want.WriteString(c)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	// Room for the watcher and a handful of files only.
	limit := uint64(len(ents) + 12)
	restore := limitFDs(t, limit)
	h.start()
	waitFor(t, "all lines", func() bool { return h.sink.count() >= files*10 })
	emfile := h.metric("logship_open_emfile_total")
	restore()
	checkExactlyOnce(t, h.sink.snapshot(), want.String())
	if emfile == 0 {
		t.Error("no EMFILE counted")
	}
	// One warning per minute however many opens failed (logthrottle).
	logged, err := os.ReadFile(logs.Name())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(logged), "out of file descriptors"); n != 1 {
		t.Errorf("%d EMFILE warnings for %v EMFILE opens, want 1 per minute", n, emfile)
	}
	t.Logf("%d files under RLIMIT_NOFILE %d: all lines read, logship_open_emfile_total %v", files, limit, emfile)
}

// TestPermissionDenied runs TestUnreadableFile as an unprivileged user (root
// ignores file modes): the open failure is logged and counted once, and the
// file is read once it becomes readable.
func TestPermissionDenied(t *testing.T) {
	t.Parallel()
	if os.Getenv("LOGSHIP_TAILER_CHILD") != "" || os.Geteuid() != 0 {
		t.Skip("runs TestUnreadableFile as uid 65534; needs root to switch")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tailer.test")
	copyFile(t, exe, bin)
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestUnreadableFile$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "LOGSHIP_TAILER_CHILD=1", "TMPDIR="+dir, "HOME="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestUnreadableFile") {
		t.Fatalf("TestUnreadableFile as uid 65534: %v\n%s", err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// openFDsUnder counts this process's descriptors to files under dir.
func openFDsUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}

// TestGoneWhileClosedCounted: a file closed for the descriptor budget and
// then renamed out of the globs cannot be read any more: that is counted
// and logged, while the file still open is drained through its descriptor.
func TestGoneWhileClosedCounted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{MaxOpenFiles: 1}, nil, 0)
	writeFile(t, h.path("a.log"), "a\n")
	writeFile(t, h.path("b.log"), "b\n")
	h.start()
	h.waitLines(2)
	parked := 0
	waitFor(t, "a file parked", func() bool {
		h.tl.mu.Lock()
		defer h.tl.mu.Unlock()
		parked = 0
		for _, g := range h.tl.gens {
			g.mu.Lock()
			if g.state.parked() {
				parked++
			}
			g.mu.Unlock()
		}
		return parked >= 1
	})
	// Nothing changes the files any more, so the parked ones stay parked.
	mustRename(t, h.path("a.log"), h.path("a.old"))
	mustRename(t, h.path("b.log"), h.path("b.old"))
	waitFor(t, "counted", func() bool {
		return h.metric("logship_discovery_errors_total", "reason", "gone_while_closed") == float64(parked)
	})
	waitFor(t, "open file drained and closed", func() bool { return h.metric("logship_files_open") == 0 })
}

// TestWatcherUnavailableFallsBackToRescan: when no inotify instance can be
// created (here: no descriptor left), the tailer runs on rescans alone, says
// so in logship_watch_fallback, and still finds and reads files.
func TestWatcherUnavailableFallsBackToRescan(t *testing.T) {
	h := newHarness(t, Settings{}, nil, 0)
	// A limit at the next descriptor's number makes every new descriptor
	// fail with EMFILE.
	restore := limitFDs(t, nextFD(t))
	h.start()
	waitFor(t, "watcher failure counted", func() bool {
		return h.metric("logship_discovery_errors_total", "reason", "watcher") == 1
	})
	restore()
	if got := h.metric("logship_watch_fallback"); got != 1 {
		t.Errorf("logship_watch_fallback %v, want 1", got)
	}
	writeFile(t, h.path("a.log"), "found by rescan\n")
	h.waitLines(1)
}

// TestCopytruncateWhileReaderBlocked: the original's reader cannot move
// (nothing is acknowledged: a broker outage) when copytruncate runs, for
// longer than the copy deferral. The copy must keep waiting for the reader
// to see the truncation instead of being shipped from 0.
func TestCopytruncateWhileReaderBlocked(t *testing.T) {
	t.Parallel()
	sink := &testSink{}
	p := Settings{Paths: []string{"app.log*"}, CloseInactive: 100 * time.Millisecond}
	h := newHarness(t, p, sink, 0, func(o *Options) { o.MaxWindow, o.ReadBufferBytes = 10, 256 })
	path := h.path("app.log")
	first := numbered("a", 0, 100)
	writeFile(t, path, first)
	h.start()
	h.waitLines(10) // the reader waits at the window cap: nothing is acknowledged
	copyFile(t, path, path+".1")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	second := numbered("b", 0, 3)
	appendFile(t, path, second)
	// The outage outlasts the copy deferral (close_inactive + rescan_interval
	// = 150ms) several times over: the workload, not a wait for a condition.
	time.Sleep(time.Second)
	waitFor(t, "all lines", func() bool { sink.ackAll(); return h.sink.count() >= 103 })
	waitFor(t, "copy recognised", func() bool { sink.ackAll(); return h.metric("logship_copies_recognised_total") == 1 })
	checkExactlyOnce(t, h.sink.snapshot(), first+second)
}

// TestForgetAfter: checkpoint entries of files not found for forget_after
// (from the pipeline config) are dropped, and the bytes they held beyond
// their offset are counted; entries seen recently are kept.
func TestForgetAfter(t *testing.T) {
	t.Parallel()
	old := checkpoint.FileState{Pipeline: "test", Path: "/gone/old.log", Device: 7, Inode: 1, Offset: 40, Size: 100,
		Updated: time.Now().Add(-2 * time.Hour)}
	recent := checkpoint.FileState{Pipeline: "test", Path: "/gone/recent.log", Device: 7, Inode: 2, Offset: 10, Size: 30,
		Updated: time.Now().Add(-30 * time.Minute)}
	h := newHarness(t, Settings{ForgetAfter: time.Hour}, nil, 0, withRestore(old, recent))
	writeFile(t, h.path("a.log"), "x\n")
	h.start()
	h.waitLines(1)
	waitFor(t, "old entry forgotten", func() bool {
		return h.metric("logship_forgotten_unread_bytes_total") == 60
	})
	snap := h.tl.Snapshot()
	if slices.Contains(snap, old) || !slices.Contains(snap, recent) {
		t.Errorf("snapshot %+v: want the recent entry kept and the old one forgotten", snap)
	}
}

// TestSymlinkedDirectoryOutsideRoots: below a wildcard directory, a matched
// directory that is a symlink to somewhere outside the glob's static root is
// refused like a symlinked file; a real directory inside is read.
func TestSymlinkedDirectoryOutsideRoots(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{Paths: []string{"*/x.log"}}, nil, 0)
	if err := os.Mkdir(h.path("in"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, h.path("in/x.log"), "inside\n")
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "x.log"), "outside\n")
	if err := os.Symlink(outside, h.path("evil")); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.waitLines(1)
	waitFor(t, "refusal counted", func() bool {
		return h.metric("logship_discovery_errors_total", "reason", "symlink_outside_roots") == 1
	})
	appendFile(t, h.path("in/x.log"), "more\n")
	h.waitLines(2)
	if got := h.sink.datas(); !slices.Equal(got, []string{"inside", "more"}) {
		t.Errorf("lines %q, want only the inside file's", got)
	}
}

// TestTruncationLossNeverOverclaimed: a truncation noticed right after a
// read (the file had already grown past the old offset) and then a second
// truncation of the new content: only the first content's unread bytes are
// counted; the second content was read to its end.
func TestTruncationLossNeverOverclaimed(t *testing.T) {
	t.Parallel()
	sink := &testSink{}
	h := newHarness(t, Settings{}, sink, 0, func(o *Options) { o.MaxWindow, o.ReadBufferBytes = 10, 256 })
	path := h.path("app.log")
	first := numbered("a", 0, 100)
	writeFile(t, path, first)
	h.start()
	h.waitLines(10) // the reader waits at the window cap
	// Rewritten in place, longer than the offset read so far.
	second := numbered("b", 0, 30)
	rewriteInPlace(t, path, second)
	waitFor(t, "second content read", func() bool {
		sink.ackAll()
		return slices.Contains(h.sink.datas(), strings.TrimSuffix(numbered("b", 29, 30), "\n"))
	})
	var readEnd int64
	for _, r := range h.sink.snapshot() {
		if strings.HasPrefix(r.data, "a ") {
			readEnd = r.end
		}
	}
	want := float64(int64(len(first)) - readEnd)
	waitFor(t, "first loss counted", func() bool { return h.metric("logship_truncation_lost_bytes_total") == want })
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "c\n")
	waitFor(t, "third content read", func() bool { sink.ackAll(); return slices.Contains(h.sink.datas(), "c") })
	waitFor(t, "second truncation counted", func() bool { return h.metric("logship_truncations_total") == 2 })
	// The second content's ghost expires after close_inactive + 2 rescans.
	waitFor(t, "ghosts expired", func() bool {
		h.tl.mu.Lock()
		defer h.tl.mu.Unlock()
		return len(h.tl.ghosts) == 0
	})
	if got := h.metric("logship_truncation_lost_bytes_total"); got != want {
		t.Fatalf("lost bytes %v, want %v (the second content was read to its end)", got, want)
	}
}

// TestChurnUnderDescriptorBudget (F31): files are created and deleted
// quickly while the descriptor budget is exhausted: nothing crashes, no line
// is delivered twice, every file that was opened is drained, and no
// descriptor is left behind.
func TestChurnUnderDescriptorBudget(t *testing.T) {
	t.Parallel()
	const files = 300
	h := newHarness(t, Settings{MaxOpenFiles: 4}, nil, 0)
	h.start()
	var all strings.Builder
	for i := range files {
		p := h.path(fmt.Sprintf("c%03d.log", i))
		c := numbered(strconv.Itoa(i), 0, 3)
		writeFile(t, p, c)
		all.WriteString(c)
		if i >= 8 { // a short life: deleted eight files later
			if err := os.Remove(h.path(fmt.Sprintf("c%03d.log", i-8))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The eight files still there are read in turn on the four descriptors.
	waitFor(t, "surviving files read", func() bool {
		got := counts(h.sink.snapshot())
		for i := files - 8; i < files; i++ {
			if got[strings.TrimSuffix(numbered(strconv.Itoa(i), 2, 3), "\n")] == 0 {
				return false
			}
		}
		return true
	})
	for i := files - 8; i < files; i++ {
		if err := os.Remove(h.path(fmt.Sprintf("c%03d.log", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every descriptor released", func() bool {
		return h.metric("logship_files_open") == 0 && openFDsUnder(t, h.dir) == 0
	})
	got := counts(h.sink.snapshot())
	written := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n") {
		written[l] = true
	}
	perFile := map[string]int{}
	for l, c := range got {
		if !written[l] || c != 1 {
			t.Fatalf("line %q received %d times (written: %v)", l, c, written[l])
		}
		perFile[strings.Fields(l)[0]]++
	}
	for f, n := range perFile {
		if n != 3 {
			t.Errorf("file %s: %d of its 3 lines (an opened file must be drained)", f, n)
		}
	}
	t.Logf("%d short-lived files on 4 descriptors: %d read (the others were deleted before their turn), budget waits %v",
		files, len(perFile), h.metric("logship_open_budget_waits_total"))
}

// TestCopytruncateCopyFoundEmpty: the rescan finds the copy while cp has
// only created it (empty, too short to tell it is a copy); its content
// arrives afterwards. It must still be recognised, not read from 0.
func TestCopytruncateCopyFoundEmpty(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{Paths: []string{"app.log*"}}, nil, 0)
	path := h.path("app.log")
	first := numbered("a", 0, 100)
	writeFile(t, path, first)
	h.start()
	h.waitLines(100)
	dst, err := os.OpenFile(path+".1", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	waitFor(t, "empty copy opened", func() bool { st, ok := h.stateOf(path + ".1"); return ok && st.Size == 0 })
	if _, err := dst.WriteString(first); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	second := numbered("b", 0, 5)
	appendFile(t, path, second)
	waitFor(t, "copy recognised", func() bool { return h.metric("logship_copies_recognised_total") == 1 })
	waitFor(t, "all lines", func() bool { return h.sink.count() >= 105 })
	checkExactlyOnce(t, h.sink.snapshot(), first+second)
}

// TestIdenticalFilesBothShipped: two independent files with the same
// content (same first bytes, same bytes at the same offsets) and no
// truncation: the second is not taken for a copy of the first; both are
// shipped in full.
func TestIdenticalFilesBothShipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{CloseInactive: 100 * time.Millisecond}, nil, 0)
	content := numbered("same", 0, 50)
	writeFile(t, h.path("a.log"), content)
	h.start()
	h.waitLines(50)
	appendFile(t, h.path("a.log"), numbered("same", 50, 60)) // the first keeps growing
	writeFile(t, h.path("b.log"), content)
	waitFor(t, "both files read", func() bool { return h.sink.count() >= 110 })
	per := map[string]int{}
	for _, r := range h.sink.snapshot() {
		per[filepath.Base(r.src.Path)]++
	}
	if per["a.log"] != 60 || per["b.log"] != 50 || h.sink.count() != 110 {
		t.Fatalf("lines per file %v (total %d), want a.log 60 and b.log 50", per, h.sink.count())
	}
	if got := h.metric("logship_copies_recognised_total"); got != 0 {
		t.Errorf("copies recognised %v, want 0", got)
	}
}

// TestCopytruncateOfParkedFileNeverAhead (F32): a file read to its end with
// none of its lines acknowledged (broker down) is closed for the descriptor
// budget, then copytruncated with the copy matched by the glob. The copy must
// not be checkpointed past what was acknowledged of the original: a restart
// from any snapshot taken meanwhile reads those lines again.
func TestCopytruncateOfParkedFileNeverAhead(t *testing.T) {
	t.Parallel()
	sink := &testSink{}
	p := Settings{Paths: []string{"app.log*", "other.log"}, MaxOpenFiles: 1}
	h := newHarness(t, p, sink, 0)
	path := h.path("app.log")
	first := numbered("a", 0, 100)
	writeFile(t, path, first)
	h.start()
	h.waitLines(100)
	// A second file takes the only descriptor: app.log is closed with all
	// its lines unacknowledged.
	writeFile(t, h.path("other.log"), numbered("o", 0, 5))
	h.waitLines(105)
	waitFor(t, "app.log closed", func() bool {
		for _, st := range h.tl.Status() {
			if st.Path == path && st.State == StateClosed {
				return true
			}
		}
		return false
	})
	copyFile(t, path, path+".1")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "b 0\n")
	waitFor(t, "truncation seen", func() bool { return h.metric("logship_truncations_total") == 1 })

	// Nothing is acknowledged: no entry may cover any line of the first
	// content, whichever name it has now.
	var snap []checkpoint.FileState
	waitFor(t, "copy known to the checkpoint", func() bool {
		snap = h.tl.Snapshot()
		for _, st := range snap {
			if st.Path == path+".1" {
				return true
			}
		}
		return false
	})
	for _, st := range snap {
		if st.Path == path+".1" && st.Offset != 0 {
			t.Errorf("copy checkpointed at %d with nothing acknowledged (want 0): %+v", st.Offset, st)
		}
	}
	if got, all := sink.unackedLines(), sink.count(); got != all {
		t.Fatalf("%d of %d lines unacknowledged, want all", got, all)
	}

	// A crash now: a new tailer restores that snapshot and must read every
	// line of the first content again, even with start_at: end (the copy is
	// not a new file).
	h.stop()
	sink2 := &testSink{autoAck: true}
	p2 := Settings{Paths: []string{path + "*", h.path("other.log")}, MaxOpenFiles: 1, StartAt: "end"}
	h2 := newHarness(t, p2, sink2, 0, withRestore(snap...))
	h2.start()
	waitFor(t, "first content again", func() bool {
		c := counts(sink2.snapshot())
		for _, l := range strings.Split(strings.TrimSuffix(first, "\n"), "\n") {
			if c[l] == 0 {
				return false
			}
		}
		return true
	})
}

// TestRestoredEntryWaitingForDescriptorKept: a checkpointed file shipped to
// its end, idle for longer than forget_after (its entry's Updated is not
// rewritten while nothing changes), is found at start-up but must wait for a
// descriptor. Its entry is kept: it is present, not forgotten, and it is not
// read again from 0 once it gets a descriptor.
func TestRestoredEntryWaitingForDescriptorKept(t *testing.T) {
	t.Parallel()
	sink := &testSink{autoAck: true}
	p := Settings{MaxOpenFiles: 1, ForgetAfter: time.Hour}
	content := numbered("b", 0, 20)
	h := newHarness(t, p, sink, 0, func(o *Options) {
		path := filepath.Join(filepath.Dir(o.Pipeline.Paths[0]), "b.log")
		writeFile(t, path, content)
		dev, ino := inode(t, path)
		sum, n := fp(content[:fingerprintMax])
		o.Restore = []checkpoint.FileState{{Pipeline: "test", Path: path, Device: dev, Inode: ino, Fingerprint: sum,
			FingerprintLen: n, Offset: int64(len(content)), Size: int64(len(content)), Updated: time.Now().Add(-2 * time.Hour)}}
	})
	// a.log comes first in glob order and takes the only descriptor in the
	// first rescan.
	writeFile(t, h.path("a.log"), numbered("a", 0, 5))
	h.start()
	waitFor(t, "b.log opened and acknowledged to its end", func() bool {
		for _, st := range h.tl.Status() {
			if st.Path == h.path("b.log") && st.State != StateNotFound && st.Offset == int64(len(content)) {
				return true
			}
		}
		return false
	})
	h.waitLines(5)
	for _, r := range h.sink.snapshot() {
		if r.src.Path == h.path("b.log") {
			t.Fatalf("b.log read again from %d (line %q): its checkpoint entry was forgotten while it waited for a descriptor",
				r.end-int64(len(r.data))-1, r.data)
		}
	}
	if got := h.metric("logship_forgotten_unread_bytes_total"); got != 0 {
		t.Errorf("forgotten unread bytes %v, want 0", got)
	}
}

// TestParkedFileWaitingIsNotGone: a file closed for the descriptor budget
// that grows while the descriptor is taken is present at its path: it is
// never reported as gone while it waits.
func TestParkedFileWaitingIsNotGone(t *testing.T) {
	t.Parallel()
	sink := &testSink{}
	p := Settings{MaxOpenFiles: 1}
	h := newHarness(t, p, sink, 0, func(o *Options) { o.MaxWindow = 10 })
	writeFile(t, h.path("a.log"), numbered("a", 0, 5))
	h.start()
	h.waitLines(5)
	// b.log takes the descriptor (a.log at EOF yields it) and keeps it for
	// a fair slice, waiting for acknowledgements at the window cap.
	writeFile(t, h.path("b.log"), numbered("b", 0, 100))
	h.waitLines(15)
	appendFile(t, h.path("a.log"), numbered("a", 5, 10))
	waitFor(t, "a.log waits for the descriptor", func() bool { return h.metric("logship_open_budget_waits_total") >= 2 })
	if got := h.metric("logship_discovery_errors_total", "reason", reasonGoneParked); got != 0 {
		t.Errorf("%s counted %v times for a file present at its path", reasonGoneParked, got)
	}
	waitFor(t, "all lines", func() bool { sink.ackAll(); return sink.count() >= 110 })
	checkExactlyOnce(t, sink.snapshot(), numbered("a", 0, 10)+numbered("b", 0, 100))
}

// TestStartAtEndRestartReadsCopyOfTruncated: with start_at: end, a file
// copytruncated while the agent was stopped (the copy sorts before the
// original) is not a new file: its copy is read from the checkpointed offset,
// so the lines not shipped before the stop are not skipped.
func TestStartAtEndRestartReadsCopyOfTruncated(t *testing.T) {
	t.Parallel()
	old := numbered("a", 0, 100)
	shipped := int64(len(numbered("a", 0, 40)))
	h := newHarness(t, Settings{StartAt: "end"}, nil, 0, func(o *Options) {
		dir := filepath.Dir(o.Pipeline.Paths[0])
		path := filepath.Join(dir, "app.log")
		writeFile(t, path, old)
		dev, ino := inode(t, path)
		sum, n := fp(old)
		o.Restore = []checkpoint.FileState{{Pipeline: "test", Path: path, Device: dev, Inode: ino, Fingerprint: sum,
			FingerprintLen: n, Offset: shipped, Size: int64(len(old)), Updated: time.Now()}}
		// copytruncate while stopped; "app-1.log" sorts before "app.log".
		copyFile(t, path, filepath.Join(dir, "app-1.log"))
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, numbered("b", 0, 3))
	})
	h.start()
	want := numbered("a", 40, 100) + numbered("b", 0, 3)
	waitFor(t, "the unshipped lines and the new ones", func() bool {
		c := counts(h.sink.snapshot())
		for _, l := range strings.Split(strings.TrimSuffix(want, "\n"), "\n") {
			if c[l] == 0 {
				return false
			}
		}
		return true
	})
	checkExactlyOnce(t, h.sink.snapshot(), want)
}

// TestParkedMidFileIsResumed (found by the soak, seed 1): a reader closed
// mid-file for the descriptor budget (another file waited longer than
// fairSlice) must be reopened and read to its end even when nothing is
// written to it afterwards: a parked file is "unchanged" only once it was
// read to its size.
func TestParkedMidFileIsResumed(t *testing.T) {
	const files, lines = 3, 5000
	sink := &testSink{}
	h := newHarness(t, Settings{MaxOpenFiles: 1}, sink, 16<<10)
	line := strings.Repeat("x", 199) + "\n"
	for i := range files {
		writeFile(t, h.path(fmt.Sprintf("f%d.log", i)), strings.Repeat(line, lines))
	}
	h.start()
	// A slow consumer: every read waits for acknowledgements, so each
	// file takes longer than fairSlice and is parked mid-file.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acker := make(chan struct{})
	// Exits when the test cancels ctx.
	go func() {
		defer close(acker)
		for ctx.Err() == nil {
			sink.ackAll()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for sink.count() < files*lines {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines read 60s after start: a file parked mid-read was never reopened", sink.count(), files*lines)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-acker
	sink.ackAll()
	if n := h.metric("logship_open_budget_waits_total"); n == 0 {
		t.Fatal("no file ever waited for a descriptor: the test did not exercise parking")
	}
}

// TestCopytruncateCopyOfParkedFileBeforeTruncation (found by the soak,
// seed 3): the copy appears while the original is parked for the
// descriptor budget, and before the truncation. The parked original is
// still the content the copy starts like, so the copy waits for the
// truncation and is read from where the original's reading stopped, not
// shipped again from 0.
func TestCopytruncateCopyOfParkedFileBeforeTruncation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{Paths: []string{"app.log*", "busy.log"}, MaxOpenFiles: 1}, nil, 0)
	path := h.path("app.log")
	first := numbered("a", 0, 100)
	writeFile(t, path, first)
	h.start()
	h.waitLines(100)
	// busy.log takes the descriptor once app.log yields it. Should
	// busy.log end up parked instead (the two swapped again), a write
	// makes it wait for the descriptor, and app.log yields.
	busy := h.path("busy.log")
	writeFile(t, busy, "busy\n")
	waitFor(t, "app.log parked", func() bool {
		parked := map[string]bool{}
		h.tl.mu.Lock()
		for _, g := range h.tl.gens {
			g.mu.Lock()
			parked[g.path] = g.state == genParked
			g.mu.Unlock()
		}
		h.tl.mu.Unlock()
		if parked[busy] {
			appendFile(t, busy, "busy\n")
		}
		return parked[path]
	})
	copyFile(t, path, path+".1")
	// Several rescans see the copy before logrotate truncates.
	time.Sleep(5 * h.tl.rescan)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	second := numbered("b", 0, 5)
	appendFile(t, path, second)
	appLines := func() []rec {
		var got []rec
		for _, r := range h.sink.snapshot() {
			if r.data != "busy" {
				got = append(got, r)
			}
		}
		return got
	}
	waitFor(t, "the new lines", func() bool { return len(appLines()) >= 105 })
	waitFor(t, "copy recognised", func() bool { return h.metric("logship_copies_recognised_total") == 1 })
	checkExactlyOnce(t, appLines(), first+second)
}

// TestReloadHandsOverTruncatedContent (found by the soak, seed 3): a
// reload replaces the tailer right after it saw a copytruncate's
// truncation and before it found the copy. The successor must still know
// the content truncated away, so the copy is read from where the original's
// reading stopped, not shipped again from 0.
func TestReloadHandsOverTruncatedContent(t *testing.T) {
	t.Parallel()
	// A first glob that does not match the copy, as if logrotate's copy
	// appeared only after the reload that changed the pipeline's paths.
	h := newHarness(t, Settings{Paths: []string{"app.log"}}, nil, 0)
	path := h.path("app.log")
	first := numbered("a", 0, 100)
	writeFile(t, path, first)
	h.start()
	h.waitLines(100)
	copyFile(t, path, path+".1")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	second := numbered("b", 0, 5)
	appendFile(t, path, second)
	h.waitLines(105)
	waitFor(t, "the truncation seen", func() bool { return h.metric("logship_truncations_total") == 1 })
	h.stop()
	if err := h.tl.WaitAcked(context.Background()); err != nil {
		t.Fatal(err)
	}

	next := &testSink{autoAck: true}
	h2 := newHarness(t, Settings{Paths: []string{"unused"}}, next, 0,
		withRestore(h.tl.Snapshot()...), func(o *Options) { o.Handover = h.tl.Handover() })
	h2.retarget(path + "*")
	h2.start()
	waitFor(t, "copy recognised", func() bool { return h2.metric("logship_copies_recognised_total") == 1 })
	third := numbered("c", 0, 3)
	appendFile(t, path, third)
	h2.waitLines(3)
	if got := next.datas(); len(got) != 3 {
		t.Fatalf("successor shipped %d lines (%q...), want only the 3 new ones", len(got), got[0])
	}
}

// TestGhostKeptWhileFilesWaitForDescriptor (found by the soak, seed 7): the
// copy of a truncated file may wait for a descriptor far longer than a
// truncated content is remembered (close_inactive + 2 rescans). While any
// matched file waits for a descriptor, a copy may still be among them, so
// the content is remembered; once none waits, it expires as before.
func TestGhostKeptWhileFilesWaitForDescriptor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{}, nil, 0)
	tl := h.tl
	old := time.Now().Add(-time.Hour)
	tl.ghosts = []ghost{{fp: "f", fpLen: fingerprintMax, readEnd: 10, lastSize: 10, path: h.path("a.log"), at: old}}
	tl.waiting = map[string]time.Time{h.path("copy.log"): old}
	tl.expireGhosts(time.Now())
	if len(tl.ghosts) != 1 {
		t.Fatal("a truncated content was forgotten while a file waited for a descriptor: its copy would be shipped again from 0")
	}
	tl.waiting = map[string]time.Time{}
	tl.expireGhosts(time.Now().Add(time.Hour))
	if len(tl.ghosts) != 0 {
		t.Fatal("a truncated content was kept with no file waiting")
	}
}

// TestCopytruncateOfParkedFileRegrownBeyond (found by the soak, seed 7): a
// file parked for the descriptor budget is copytruncated and grows past its
// old read offset before it gets a descriptor back. Reopened, it no longer
// starts like what was read (it looks like another file on the same inode),
// yet the content read so far was truncated away, not lost: its copy, found
// later, is read from where the original's reading stopped.
func TestCopytruncateOfParkedFileRegrownBeyond(t *testing.T) {
	t.Parallel()
	sink := &testSink{autoAck: true}
	h := newHarness(t, Settings{Paths: []string{"app.log*", "busy.log"}, MaxOpenFiles: 1}, sink, 0)
	path := h.path("app.log")
	first := numbered("a", 0, 100)
	writeFile(t, path, first)
	h.start()
	h.waitLines(100)
	// busy.log keeps growing, so the single descriptor is always wanted.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	// Exits when the test cancels ctx.
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			appendFile(t, h.path("busy.log"), "busy\n")
			time.Sleep(10 * time.Millisecond)
		}
	}()
	waitFor(t, "app.log parked", func() bool {
		h.tl.mu.Lock()
		defer h.tl.mu.Unlock()
		for _, g := range h.tl.gens {
			g.mu.Lock()
			parked := g.path == path && g.state == genParked
			g.mu.Unlock()
			if parked {
				return true
			}
		}
		return false
	})
	// copytruncate whose copy appears late (written under another name
	// first), while the original regrows past its old size.
	tmp := filepath.Join(t.TempDir(), "copy")
	writeFile(t, tmp, first)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	second := numbered("b", 0, 300)
	appendFile(t, path, second)
	appLines := func() []rec {
		var got []rec
		for _, r := range sink.snapshot() {
			if r.data != "busy" {
				got = append(got, r)
			}
		}
		return got
	}
	waitFor(t, "the rewritten content", func() bool { return len(appLines()) >= 400 })
	if err := os.Rename(tmp, path+".1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the copy looked at", func() bool {
		return h.metric("logship_copies_recognised_total") == 1 || len(appLines()) > 400
	})
	cancel()
	<-done
	checkExactlyOnce(t, appLines(), first+second)
}

// TestRestartCopytruncateRegrownBeyond (found by the soak, seed 7): a
// checkpointed file is copytruncated and grows past its checkpointed
// offset while the agent is stopped (or before the restarted agent gets a
// descriptor for it). It no longer starts like its entry, yet the content
// the entry describes was truncated away, not lost: its copy, found later,
// is read from the checkpointed offset, not shipped again from 0.
func TestRestartCopytruncateRegrownBeyond(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Settings{Paths: []string{"app.log*"}}, nil, 0)
	path := h.path("app.log")
	first := numbered("a", 0, 300)
	writeFile(t, path, first)
	h.start()
	h.waitLines(300)
	waitFor(t, "checkpointed", func() bool { st, _ := h.stateOf(path); return st.Offset == int64(len(first)) })
	h.stop()
	restore := h.tl.Snapshot()

	tmp := filepath.Join(t.TempDir(), "copy")
	writeFile(t, tmp, first)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	second := numbered("b", 0, 600)
	appendFile(t, path, second)

	next := &testSink{autoAck: true}
	h2 := newHarness(t, Settings{Paths: []string{"unused"}}, next, 0, withRestore(restore...))
	h2.retarget(path + "*")
	h2.start()
	h2.waitLines(600)
	if err := os.Rename(tmp, path+".1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the copy looked at", func() bool {
		return h2.metric("logship_copies_recognised_total") == 1 || next.count() > 600
	})
	checkExactlyOnce(t, next.snapshot(), second)
}
