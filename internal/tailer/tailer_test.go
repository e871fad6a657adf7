package tailer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
)

type wantLine struct {
	data string
	end  int64
}

func lineEnds(recs []rec) []wantLine {
	var out []wantLine
	for _, r := range recs {
		out = append(out, wantLine{r.data, r.end})
	}
	return out
}

func TestLinesAndOffsets(t *testing.T) {
	tests := []struct {
		name  string
		write []string // successive appends; lines are awaited after each
		want  [][]wantLine
	}{
		{name: "lf", write: []string{"a\nbb\n"}, want: [][]wantLine{{{"a", 2}, {"bb", 5}}}},
		{name: "crlf", write: []string{"a\r\nbb\r\n"}, want: [][]wantLine{{{"a", 3}, {"bb", 7}}}},
		{name: "empty lines", write: []string{"\n\nx\n\r\n"}, want: [][]wantLine{{{"", 1}, {"", 2}, {"x", 4}, {"", 6}}}},
		{name: "binary verbatim", write: []string{"a\x00b\xff\xfe\r\x00\n"}, want: [][]wantLine{{{"a\x00b\xff\xfe\r\x00", 8}}}},
		{
			name:  "partial held until newline",
			write: []string{"one\ntw", "o", "\nthree"},
			want:  [][]wantLine{{{"one", 4}}, {{"one", 4}}, {{"one", 4}, {"two", 8}}},
		},
		{
			name:  "long line across reads",
			write: []string{strings.Repeat("x", 100) + "\ny\n"},
			want:  [][]wantLine{{{strings.Repeat("x", 100), 101}, {"y", 103}}},
		},
	}
	for _, bufSize := range []int{3, 64 << 10} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/buf%d", tc.name, bufSize), func(t *testing.T) {
				h := newHarness(t, config.Pipeline{}, nil, 0, func(o *Options) { o.ReadBufferBytes = bufSize })
				path := h.path("a.log")
				writeFile(t, path, "")
				h.start()
				var size int64
				for i, w := range tc.write {
					appendFile(t, path, w)
					size += int64(len(w))
					want := tc.want[i]
					h.waitLines(len(want))
					// The state must settle: the reader has seen the whole file.
					waitFor(t, "size in snapshot", func() bool {
						st, _ := h.stateOf(path)
						return st.Size == size
					})
					if got := lineEnds(h.sink.snapshot()); !slices.Equal(got, want) {
						t.Fatalf("after write %d: lines %+v, want %+v", i, got, want)
					}
				}
				last := tc.want[len(tc.want)-1]
				st, _ := h.stateOf(path)
				if st.Offset != last[len(last)-1].end {
					t.Errorf("committed offset %d, want %d", st.Offset, last[len(last)-1].end)
				}
				if got := h.budget.InUse(); got != 0 {
					t.Errorf("budget in use %d after all acks, want 0", got)
				}
			})
		}
	}
}

func TestSourceAndFingerprint(t *testing.T) {
	h := newHarness(t, config.Pipeline{}, nil, 0)
	path := h.path("a.log")
	writeFile(t, path, "") // empty: fingerprint of 0 bytes
	h.start()
	waitFor(t, "file known", func() bool { _, ok := h.stateOf(path); return ok })
	st, _ := h.stateOf(path)
	if st.FingerprintLen != 0 || st.Fingerprint != hashHex(nil) {
		t.Fatalf("empty file fingerprint %q/%d", st.Fingerprint, st.FingerprintLen)
	}
	content := strings.Repeat("0123456789abcde\n", 100) // 1600 bytes
	appendFile(t, path, content[:10])
	waitFor(t, "fingerprint of 10 bytes", func() bool { st, _ := h.stateOf(path); return st.FingerprintLen == 10 })
	st, _ = h.stateOf(path)
	if want := sha256.Sum256([]byte(content[:10])); st.Fingerprint != hex.EncodeToString(want[:]) {
		t.Fatalf("fingerprint mismatch for 10 bytes")
	}
	appendFile(t, path, content[10:])
	h.waitLines(100)
	waitFor(t, "fingerprint of 1024 bytes", func() bool { st, _ := h.stateOf(path); return st.FingerprintLen == 1024 })
	st, _ = h.stateOf(path)
	if want := sha256.Sum256([]byte(content[:1024])); st.Fingerprint != hex.EncodeToString(want[:]) {
		t.Fatalf("fingerprint mismatch for 1024 bytes")
	}
	dev, ino := inode(t, path)
	recs := h.sink.snapshot()
	if src := recs[0].src; src.Device != dev || src.Inode != ino || src.Path != path || src.Pipeline != "test" {
		t.Errorf("source %+v, want dev %d ino %d", *src, dev, ino)
	}
	if st.Device != dev || st.Inode != ino || st.Pipeline != "test" || st.Offset != 1600 || st.Size != 1600 {
		t.Errorf("state %+v", st)
	}
}

func fp(data string) (string, int) {
	n := min(len(data), fingerprintMax)
	sum := sha256.Sum256([]byte(data[:n]))
	return hex.EncodeToString(sum[:]), n
}

func TestResumeFromRestoredState(t *testing.T) {
	const content = "l1\nl2\nl3\n"
	tests := []struct {
		name     string
		mutate   func(st *checkpoint.FileState)
		want     []string
		truncate int
		keepOld  bool // the restored entry stays (not claimed)
	}{
		{name: "identity match", want: []string{"l2", "l3"}},
		{name: "identity match short fingerprint", mutate: func(st *checkpoint.FileState) {
			st.Fingerprint, st.FingerprintLen = fp(content[:3])
		}, want: []string{"l2", "l3"}},
		{name: "inode mismatch", mutate: func(st *checkpoint.FileState) { st.Inode++ }, want: []string{"l1", "l2", "l3"}, keepOld: true},
		{name: "fingerprint mismatch", mutate: func(st *checkpoint.FileState) {
			st.Fingerprint, st.FingerprintLen = fp("other\n")
		}, want: []string{"l1", "l2", "l3"}},
		{name: "fingerprint longer than file", mutate: func(st *checkpoint.FileState) {
			st.Fingerprint, st.FingerprintLen = fp(content + "more")
		}, want: []string{"l1", "l2", "l3"}},
		{name: "truncated", mutate: func(st *checkpoint.FileState) { st.Offset = 100 }, want: []string{"l1", "l2", "l3"}, truncate: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The restored state needs the file's inode: create it first.
			dir := t.TempDir()
			path := filepath.Join(dir, "a.log")
			writeFile(t, path, content)
			dev, ino := inode(t, path)
			f, n := fp(content)
			st := checkpoint.FileState{Pipeline: "test", Path: path, Device: dev, Inode: ino, Fingerprint: f, FingerprintLen: n, Offset: 3, Size: 9, Updated: time.Now()}
			if tc.mutate != nil {
				tc.mutate(&st)
			}
			other := checkpoint.FileState{Pipeline: "other", Path: "/x", Device: 1, Inode: 1}
			h := newHarness(t, config.Pipeline{Paths: []string{"unused"}}, nil, 0, withRestore(st, other))
			h.retarget(filepath.Join(dir, "*.log"))
			if snap := h.tl.Snapshot(); len(snap) != 1 || snap[0] != st {
				t.Fatalf("snapshot before Run = %+v, want the restored entry only", snap)
			}
			h.start()
			h.waitLines(len(tc.want))
			waitFor(t, "offset 9", func() bool {
				for _, s := range h.tl.Snapshot() {
					if s.Inode == ino && s.Offset == 9 && s.Fingerprint == f {
						return true
					}
				}
				return false
			})
			if got := h.sink.datas(); !slices.Equal(got, tc.want) {
				t.Errorf("lines %q, want %q", got, tc.want)
			}
			if got := h.metric("logship_truncations_total"); got != float64(tc.truncate) {
				t.Errorf("truncations %v, want %d", got, tc.truncate)
			}
			snap := h.tl.Snapshot()
			hasOld := slices.ContainsFunc(snap, func(s checkpoint.FileState) bool { return s == st })
			if hasOld != tc.keepOld || len(snap) != map[bool]int{true: 2, false: 1}[tc.keepOld] {
				t.Errorf("snapshot %+v: restored entry kept = %v, want %v", snap, hasOld, tc.keepOld)
			}
		})
	}
}

func TestStartAtEnd(t *testing.T) {
	h := newHarness(t, config.Pipeline{StartAt: "end"}, nil, 0)
	old := h.path("old.log")
	writeFile(t, old, "old1\nold2\npart")
	full := h.path("full.log")
	writeFile(t, full, "x\ny\n")
	h.start()
	waitFor(t, "files known", func() bool {
		st1, ok1 := h.stateOf(old)
		st2, ok2 := h.stateOf(full)
		return ok1 && ok2 && st1.Offset == 10 && st2.Offset == 4
	})
	appendFile(t, old, "ial\nnew\n")
	appendFile(t, full, "z\n")
	// A file that appears after start-up is new: read from its beginning.
	later := h.path("later.log")
	writeFile(t, later, "first\n")
	h.waitLines(4)
	got := h.sink.datas()
	slices.Sort(got)
	if want := []string{"first", "new", "partial", "z"}; !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
}

func TestRenameRotation(t *testing.T) {
	for _, glob := range []string{"app.log", "app.log*"} {
		t.Run(glob, func(t *testing.T) {
			h := newHarness(t, config.Pipeline{Paths: []string{glob}}, nil, 0)
			path := h.path("app.log")
			old, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			h.start()
			fmt.Fprint(old, "a1\na2\n")
			h.waitLines(2)
			oldDev, oldIno := inode(t, path)

			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			// Late writes to the old descriptor after the rename.
			fmt.Fprint(old, "a3\na4")
			writeFile(t, path, "b1\nb2\n")
			fmt.Fprint(old, "\n")
			recs := h.waitLines(6)
			old.Close() // the writer's descriptor must not count below
			var gotOld, gotNew []wantLine
			for _, r := range recs {
				if r.src.Inode == oldIno && r.src.Device == oldDev {
					gotOld = append(gotOld, wantLine{r.data, r.end})
				} else {
					gotNew = append(gotNew, wantLine{r.data, r.end})
				}
			}
			if want := []wantLine{{"a1", 3}, {"a2", 6}, {"a3", 9}, {"a4", 12}}; !slices.Equal(gotOld, want) {
				t.Errorf("old file lines %v, want %v", gotOld, want)
			}
			if want := []wantLine{{"b1", 3}, {"b2", 6}}; !slices.Equal(gotNew, want) {
				t.Errorf("new file lines %v, want %v", gotNew, want)
			}
			waitFor(t, "rotation counted", func() bool { return h.metric("logship_rotations_total") == 1 })
			if glob == "app.log" {
				// Rotated out of the glob: drained, quiet, acknowledged → closed.
				waitFor(t, "old fd released", func() bool { return openFDsTo(t, path+".1") == 0 })
				waitFor(t, "one file open", func() bool { return h.metric("logship_files_open") == 1 })
			} else {
				// Still matched under its new name: same generation, never
				// opened twice, kept open.
				waitFor(t, "renamed path in snapshot", func() bool {
					st, ok := h.stateOf(path + ".1")
					return ok && st.Inode == oldIno && st.Offset == 12
				})
				if n := openFDsTo(t, path+".1"); n != 1 {
					t.Errorf("%d descriptors to the rotated file, want 1", n)
				}
			}
			// Both generations are still in the checkpoint.
			waitFor(t, "both generations committed", func() bool {
				var o, n bool
				for _, st := range h.tl.Snapshot() {
					o = o || st.Inode == oldIno && st.Offset == 12
					n = n || st.Path == path && st.Inode != oldIno && st.Offset == 6
				}
				return o && n
			})
			if got := len(h.sink.snapshot()); got != 6 {
				t.Errorf("%d lines, want 6 (no duplicates)", got)
			}
		})
	}
}

func TestDeletedWhileUnread(t *testing.T) {
	sink := &testSink{}
	// A small budget keeps the reader behind: it holds the fd while the
	// file is deleted, then reads the rest through it.
	h := newHarness(t, config.Pipeline{}, sink, 64, func(o *Options) { o.ReadBufferBytes = 16 })
	path := h.path("gone.log")
	var want []string
	var content strings.Builder
	for i := range 50 {
		l := fmt.Sprintf("line-%02d", i) // 8 bytes with newline
		want = append(want, l)
		content.WriteString(l + "\n")
	}
	content.WriteString("tail") // unterminated: flushed when the file is closed
	want = append(want, "tail")
	writeFile(t, path, content.String())
	h.start()
	h.waitLines(1)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all lines", func() bool {
		sink.ackAll()
		return sink.count() == len(want)
	})
	if got := sink.datas(); !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
	if last := sink.snapshot()[len(want)-1]; last.end != int64(content.Len()) {
		t.Errorf("flushed last line end %d, want %d", last.end, content.Len())
	}
	if sink.maxHeld > 64 {
		t.Errorf("sink held %d unacknowledged bytes, budget 64", sink.maxHeld)
	}
	waitFor(t, "fd released", func() bool { return openFDsTo(t, path) == 0 })
	waitFor(t, "no file open", func() bool { return h.metric("logship_files_open") == 0 })
	// Acknowledged up to its end, reported once, then forgotten.
	waitFor(t, "deleted file forgotten", func() bool { _, ok := h.stateOf(path); return !ok })
	if got := h.budget.InUse(); got != 0 {
		t.Errorf("budget in use %d, want 0", got)
	}
}

func TestDeletedFileHeldUntilAcked(t *testing.T) {
	sink := &testSink{}
	h := newHarness(t, config.Pipeline{CloseInactive: 20 * time.Millisecond}, sink, 0)
	path := h.path("a.log")
	writeFile(t, path, "x\n")
	h.start()
	h.waitLines(1)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// Gone and quiet, but not acknowledged: the descriptor stays (invariant 5).
	waitFor(t, "gone noticed", func() bool {
		h.tl.mu.Lock()
		defer h.tl.mu.Unlock()
		for _, g := range h.tl.gens {
			g.mu.Lock()
			gone := g.state == genDraining && time.Since(g.goneSince) > 100*time.Millisecond
			g.mu.Unlock()
			if gone {
				return true
			}
		}
		return false
	})
	if n := openFDsTo(t, path); n != 1 {
		t.Fatalf("%d descriptors before the ack, want 1", n)
	}
	sink.ackAll()
	waitFor(t, "fd released after ack", func() bool { return openFDsTo(t, path) == 0 })
}

func TestTruncateInPlace(t *testing.T) {
	h := newHarness(t, config.Pipeline{}, nil, 0)
	path := h.path("a.log")
	writeFile(t, path, "aaaa\nbbbb\n")
	h.start()
	h.waitLines(2)
	waitFor(t, "committed", func() bool { st, _ := h.stateOf(path); return st.Offset == 10 })
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "truncation noticed", func() bool { return h.metric("logship_truncations_total") == 1 })
	appendFile(t, path, "c\n")
	recs := h.waitLines(3)
	if got, want := lineEnds(recs), []wantLine{{"aaaa", 5}, {"bbbb", 10}, {"c", 2}}; !slices.Equal(got, want) {
		t.Fatalf("lines %v, want %v", got, want)
	}
	if recs[2].src == recs[0].src {
		t.Error("new generation reuses the old Source")
	}
	waitFor(t, "offset restarted", func() bool { st, _ := h.stateOf(path); return st.Offset == 2 && st.FingerprintLen == 2 })

	// Rewritten in place with longer, different content (copytruncate racing
	// a fast writer): the first bytes changed, so it restarts at 0 too.
	writeFile(t, path, "different content\nmore\n")
	recs = h.waitLines(5)
	if got, want := lineEnds(recs[3:]), []wantLine{{"different content", 18}, {"more", 23}}; !slices.Equal(got, want) {
		t.Fatalf("lines after rewrite %v, want %v", got, want)
	}
	if got := h.metric("logship_truncations_total"); got != 2 {
		t.Errorf("truncations %v, want 2", got)
	}
}

func TestSkipsNonRegular(t *testing.T) {
	h := newHarness(t, config.Pipeline{Paths: []string{"*"}, Exclude: []string{"*.gz", "*/skip/*"}}, nil, 0)
	mk := func(name string) string { return h.path(name) }
	if err := os.Mkdir(mk("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(mk("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A character device (the numbers of /dev/null): opening one may block
	// or have side effects, so it must never be opened.
	if err := syscall.Mknod(mk("chardev"), syscall.S_IFCHR|0o644, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", mk("sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Symlink(mk("dir"), mk("link-to-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(mk("missing"), mk("dangling")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "target.log")
	writeFile(t, outside, "outside\n")
	if err := os.Symlink(outside, mk("link-to-outside")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mk("dir"), "inside.txt"), "via-link\n")
	if err := os.Symlink(filepath.Join(mk("dir"), "inside.txt"), mk("link-to-file")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, mk("real"), "real\n")
	if err := os.Symlink(mk("real"), mk("second-name")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, mk("old.gz"), "excluded\n")
	h.start()
	h.waitLines(2)
	waitFor(t, "skips counted", func() bool {
		return h.metric("logship_discovery_errors_total", "reason", "not_regular") == 4 &&
			h.metric("logship_discovery_errors_total", "reason", "symlink") == 2 &&
			h.metric("logship_discovery_errors_total", "reason", "symlink_outside_roots") == 1
	})
	// Later rescans (proven by a file found later) count nothing again.
	writeFile(t, mk("later"), "later\n")
	h.waitLines(3)
	got := h.sink.datas()
	slices.Sort(got)
	if want := []string{"later", "real", "via-link"}; !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	if got := h.metric("logship_discovery_errors_total", "reason", "not_regular"); got != 4 {
		t.Errorf("not_regular skips %v, want 4 (once per path)", got)
	}
}

func TestOversizeSplit(t *testing.T) {
	h := newHarness(t, config.Pipeline{MaxLineBytes: 10}, nil, 0, func(o *Options) { o.ReadBufferBytes = 4 })
	path := h.path("a.log")
	writeFile(t, path, "")
	h.start()
	// Parts are emitted before the newline arrives.
	appendFile(t, path, strings.Repeat("a", 25))
	recs := h.waitLines(2)
	appendFile(t, path, "\nexactly-10\n")
	recs = h.waitLines(4)
	type part struct {
		data string
		end  int64
		part int
		last bool
	}
	var got []part
	for _, r := range recs {
		got = append(got, part{r.data, r.end, r.part, r.last})
	}
	want := []part{
		{strings.Repeat("a", 10), 10, 1, false},
		{strings.Repeat("a", 10), 20, 2, false},
		{strings.Repeat("a", 5), 26, 3, true},
		{"exactly-10", 37, 0, false},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := h.metric("logship_lines_split_total"); got != 1 {
		t.Errorf("lines split %v, want 1", got)
	}
}

func TestOversizeTruncate(t *testing.T) {
	h := newHarness(t, config.Pipeline{MaxLineBytes: 10, OversizePolicy: "truncate"}, nil, 0, func(o *Options) { o.ReadBufferBytes = 4 })
	path := h.path("a.log")
	writeFile(t, path, "short\n")
	h.start()
	h.waitLines(1)
	appendFile(t, path, "0123456789ABCDEF")
	// Nothing is emitted (and nothing is kept) until the newline.
	waitFor(t, "discard scan reached EOF", func() bool { st, _ := h.stateOf(path); return st.Size == 22 })
	appendFile(t, path, "GHIJ\r\nok\n")
	recs := h.waitLines(3)
	got := lineEnds(recs)
	if want := []wantLine{{"short", 6}, {"0123456789", 28}, {"ok", 31}}; !slices.Equal(got, want) {
		t.Fatalf("lines %v, want %v", got, want)
	}
	if !recs[1].truncated || recs[0].truncated || recs[2].truncated {
		t.Errorf("truncated flags %v %v %v", recs[0].truncated, recs[1].truncated, recs[2].truncated)
	}
	if got := h.metric("logship_truncated_bytes_total"); got != 11 { // "ABCDEFGHIJ\r"
		t.Errorf("truncated bytes %v, want 11", got)
	}
	if got := h.metric("logship_lines_truncated_total"); got != 1 {
		t.Errorf("truncated lines %v, want 1", got)
	}
	waitFor(t, "committed past the line", func() bool { st, _ := h.stateOf(path); return st.Offset == 31 })
}

func TestHugeLineBoundedMemory(t *testing.T) {
	for _, policy := range []string{"split", "truncate"} {
		t.Run(policy, func(t *testing.T) {
			const maxLine = 64 << 10
			sink := &testSink{autoAck: true}
			h := newHarness(t, config.Pipeline{MaxLineBytes: maxLine, OversizePolicy: policy}, sink, 256<<10)
			path := h.path("a.log")
			huge := bytes.Repeat([]byte("z"), 20<<20)
			huge = append(huge, "\nend\n"...)
			if err := os.WriteFile(path, huge, 0o644); err != nil {
				t.Fatal(err)
			}
			h.start()
			waitFor(t, "end line", func() bool {
				d := sink.datas()
				return len(d) > 0 && d[len(d)-1] == "end"
			})
			recs := sink.snapshot()
			var total int
			for _, r := range recs[:len(recs)-1] {
				total += len(r.data)
				if len(r.data) > maxLine {
					t.Fatalf("line of %d bytes", len(r.data))
				}
			}
			want := 20 << 20
			if policy == "truncate" {
				want = maxLine
			}
			if total != want {
				t.Errorf("%d bytes shipped, want %d", total, want)
			}
			if got := h.budget.InUse(); got != 0 {
				t.Errorf("budget in use %d, want 0", got)
			}
		})
	}
}

func TestBudgetBackpressure(t *testing.T) {
	sink := &testSink{}
	const limit = 1000
	h := newHarness(t, config.Pipeline{}, sink, limit)
	path := h.path("a.log")
	var want []string
	var content strings.Builder
	for i := range 100 {
		l := fmt.Sprintf("%099d", i) // 100 bytes with newline
		want = append(want, l)
		content.WriteString(l + "\n")
	}
	writeFile(t, path, content.String())
	h.start()
	// The reader fills the budget and stops: 10 lines of 100 bytes, plus
	// their per-line overhead charged after the read.
	waitFor(t, "budget full", func() bool { return sink.count() == 10 && h.budget.InUse() == limit+10*LineOverhead })
	waitFor(t, "lag visible", func() bool { return h.metric("logship_file_lag_bytes") == 10000 })
	// Acknowledgements let it continue, never beyond the budget.
	waitFor(t, "all lines", func() bool {
		sink.ackN(3)
		return sink.count() == 100
	})
	sink.ackAll()
	if got := sink.datas(); !slices.Equal(got, want) {
		t.Fatal("lines out of order or missing")
	}
	if sink.maxHeld > limit {
		t.Errorf("%d bytes unacknowledged at once, budget %d", sink.maxHeld, limit)
	}
	waitFor(t, "committed", func() bool { st, _ := h.stateOf(path); return st.Offset == 10000 })
	waitFor(t, "no lag", func() bool { return h.metric("logship_file_lag_bytes") == 0 })
	if got := h.budget.InUse(); got != 0 {
		t.Errorf("budget in use %d, want 0", got)
	}
}

func TestCheckpointNeverAhead(t *testing.T) {
	sink := &testSink{}
	h := newHarness(t, config.Pipeline{}, sink, 0)
	path := h.path("a.log")
	writeFile(t, path, "a\nb\nc\n")
	h.start()
	h.waitLines(3)
	if st, _ := h.stateOf(path); st.Offset != 0 {
		t.Fatalf("offset %d before any ack", st.Offset)
	}
	sink.ackN(2)
	if st, _ := h.stateOf(path); st.Offset != 4 {
		t.Fatalf("offset %d after two acks, want 4", st.Offset)
	}
}

// TestRunStopsBlockedReaders: stopping returns promptly from a reader
// blocked in Emit or in Acquire, and leaves exactly the budget the sink
// still owns: none for a sink that failed (it abandoned the lines), the
// received lines' for a sink that took them; the harness then checks it
// goes back to 0 once those are acknowledged, with no double ack.
func TestRunStopsBlockedReaders(t *testing.T) {
	t.Run("emit", func(t *testing.T) {
		h := newHarness(t, config.Pipeline{}, &testSink{block: true}, 0)
		writeFile(t, h.path("a.log"), "x\n")
		h.start()
		waitFor(t, "reader in Emit", func() bool { return h.budget.InUse() > 0 })
		h.stop()
		if u := h.budget.InUse(); u != 0 {
			t.Fatalf("after stop: budget in use %d, want 0 (the failed Emit's lines abandoned)", u)
		}
		if st, ok := h.stateOf(h.path("a.log")); !ok || st.Offset != 0 {
			t.Fatalf("after stop: checkpoint %+v, want offset 0 (the line is read again)", st)
		}
	})
	t.Run("acquire", func(t *testing.T) {
		h := newHarness(t, config.Pipeline{}, &testSink{}, 10)
		writeFile(t, h.path("a.log"), "0123456789\nmore\n")
		h.start()
		h.waitLines(1)
		h.stop() // the reader waits in Acquire for bytes that never come
		if u, held := h.budget.InUse(), h.sink.heldBytes(); u != held {
			t.Fatalf("after stop: budget in use %d, want %d (the sink's unacknowledged line only)", u, held)
		}
	})
}

func TestSnapshotKeepsUnmatchedRestored(t *testing.T) {
	st := checkpoint.FileState{Pipeline: "test", Path: "/nowhere/x.log", Device: 7, Inode: 9, Offset: 5, Updated: time.Now()}
	expired := checkpoint.FileState{Pipeline: "test", Path: "/nowhere/y.log", Device: 7, Inode: 10, Updated: time.Now().Add(-48 * time.Hour)}
	h := newHarness(t, config.Pipeline{}, nil, 0, withRestore(st, expired))
	writeFile(t, h.path("a.log"), "x\n")
	h.start()
	h.waitLines(1)
	waitFor(t, "expired entry forgotten", func() bool { return len(h.tl.Snapshot()) == 2 })
	snap := h.tl.Snapshot()
	if !slices.Contains(snap, st) {
		t.Errorf("snapshot %+v lost the restored entry", snap)
	}
}

func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions")
	}
	h := newHarness(t, config.Pipeline{}, nil, 0)
	path := h.path("a.log")
	writeFile(t, path, "x\n")
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	h.start()
	waitFor(t, "open error counted", func() bool { return h.metric("logship_discovery_errors_total", "reason", "open") == 1 })
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitLines(1)
}

func TestNewValidation(t *testing.T) {
	b := checkpoint.NewBudget(1)
	s := &testSink{}
	ok := config.Pipeline{Name: "p", Paths: []string{"/var/log/*.log"}}
	tests := []struct {
		name string
		mod  func(o *Options)
		want string
	}{
		{name: "ok", mod: func(*Options) {}},
		{name: "no name", mod: func(o *Options) { o.Pipeline.Name = "" }, want: "name is empty"},
		{name: "no paths", mod: func(o *Options) { o.Pipeline.Paths = nil }, want: "paths is empty"},
		{name: "relative", mod: func(o *Options) { o.Pipeline.Paths = []string{"x/*.log"} }, want: "not absolute"},
		{name: "bad glob", mod: func(o *Options) { o.Pipeline.Paths = []string{"/x/[.log"} }, want: "syntax error"},
		{name: "bad exclude", mod: func(o *Options) { o.Pipeline.Exclude = []string{"["} }, want: "exclude"},
		{name: "symlink root", mod: func(o *Options) { o.Pipeline.SymlinkRoots = []string{"/"} }, want: "symlink_roots"},
		{name: "start_at", mod: func(o *Options) { o.Pipeline.StartAt = "middle" }, want: "start_at"},
		{name: "policy", mod: func(o *Options) { o.Pipeline.OversizePolicy = "drop" }, want: "oversize_policy"},
		{name: "max line", mod: func(o *Options) { o.Pipeline.MaxLineBytes = -1 }, want: "max_line_bytes"},
		{name: "rescan", mod: func(o *Options) { o.Pipeline.RescanInterval = -1 }, want: "rescan_interval"},
		{name: "budget", mod: func(o *Options) { o.Budget = nil }, want: "budget"},
		{name: "sink", mod: func(o *Options) { o.Sink = nil }, want: "sink"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Pipeline: ok, Budget: b, Sink: s}
			o.Pipeline.Paths = slices.Clone(ok.Paths)
			tc.mod(&o)
			_, err := New(o)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestTwoTailersOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := checkpoint.NewBudget(1 << 20)
	for _, name := range []string{"a", "b", "a"} {
		_, err := New(Options{
			Pipeline: config.Pipeline{Name: name, Paths: []string{"/var/log/*.log"}},
			Budget:   b, Sink: &testSink{}, Registerer: reg,
		})
		if err != nil {
			t.Fatalf("New(%s): %v", name, err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "logship_file_lag_bytes" && len(mf.GetMetric()) != 2 {
			t.Errorf("lag series %d, want 2", len(mf.GetMetric()))
		}
	}
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, config.Pipeline{}, nil, 0).start()
	waitFor(t, "started", h.tl.started.Load)
	if err := h.tl.Run(context.Background()); err == nil {
		t.Fatal("second Run succeeded")
	}
}

func TestWatchFallbackRescanOnly(t *testing.T) {
	// Without fsnotify hints (the watch directory appears only later), the
	// periodic rescan still finds files and polling still reads them.
	h := newHarness(t, config.Pipeline{Paths: []string{"sub/*.log"}}, nil, 0)
	h.start()
	if err := os.Mkdir(h.path("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, h.path("sub/a.log"), "x\n")
	h.waitLines(1)
	appendFile(t, h.path("sub/a.log"), "y\n")
	h.waitLines(2)
}

func TestRotationUnderLoad(t *testing.T) {
	// A writer rotates by rename several times while the reader lags
	// (small budget, acknowledgements in the background), and keeps writing
	// to the old descriptor after each rename. Every line arrives once.
	//   - "app.log": rotated names leave the glob; a file that lives under
	//     the glob for less than a rescan can never be seen, so the writer
	//     waits until each new file is known before filling and rotating it.
	//   - "app.log*": rotated names stay matched; no waiting.
	for _, glob := range []string{"app.log", "app.log*"} {
		t.Run(glob, func(t *testing.T) { testRotationUnderLoad(t, glob) })
	}
}

func testRotationUnderLoad(t *testing.T, glob string) {
	const (
		total     = 20000
		rotations = 5
	)
	sink := &testSink{}
	h := newHarness(t, config.Pipeline{Paths: []string{glob}}, sink, 16<<10)
	path := h.path("app.log")
	writeFile(t, path, "")
	h.start()

	stopAck := make(chan struct{})
	ackDone := make(chan struct{})
	// Exits when stopAck is closed.
	go func() {
		defer close(ackDone)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopAck:
				return
			case <-tick.C:
				sink.ackAll()
			}
		}
	}()
	defer func() { close(stopAck); <-ackDone }()

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	per := total / (rotations + 1)
	seq := 0
	write := func(n int) {
		var b strings.Builder
		for range n {
			fmt.Fprintf(&b, "seq=%08d %s\n", seq, strings.Repeat("x", 50))
			seq++
		}
		if _, err := f.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
	}
	for r := 1; r <= rotations; r++ {
		if glob == "app.log" {
			_, ino := inode(t, path)
			waitFor(t, "new file known", func() bool {
				return slices.ContainsFunc(h.tl.Snapshot(), func(st checkpoint.FileState) bool { return st.Inode == ino })
			})
		}
		for range per / 100 {
			write(100)
		}
		if err := os.Rename(path, fmt.Sprintf("%s.%d", path, r)); err != nil {
			t.Fatal(err)
		}
		write(500) // late writes to the renamed file
		f.Close()
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(total - seq)
	f.Close()

	deadline := time.Now().Add(10 * time.Second)
	for sink.count() < total && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	seen := make([]int, total)
	for _, d := range sink.datas() {
		var n int
		if _, err := fmt.Sscanf(d, "seq=%08d", &n); err != nil || n >= total {
			t.Fatalf("bad line %q", d)
		}
		seen[n]++
	}
	bad := 0
	for i, c := range seen {
		if c != 1 {
			if bad < 5 {
				t.Errorf("seq %d seen %d times", i, c)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d sequence numbers not seen exactly once; snapshot %+v", bad, h.tl.Snapshot())
	}
	if got := sink.count(); got != total {
		t.Errorf("%d lines, want %d", got, total)
	}
	if glob == "app.log" {
		waitFor(t, "rotated files closed", func() bool { return h.metric("logship_files_open") == 1 })
	} else if got := h.metric("logship_files_open"); got != rotations+1 {
		t.Errorf("%v files open, want %d", got, rotations+1)
	}
}

// TestStartAtEndCrashKeepsFilesBegun: with start_at: end, files this run
// began reading — one present at start-up (read from its end) and one that
// appeared later (read from 0) — are in the checkpoint before any of their
// lines is handed on. After a crash before the next periodic save, a
// restart resumes them where they were; it does not skip them to their end.
func TestStartAtEndCrashKeepsFilesBegun(t *testing.T) {
	var mu sync.Mutex
	var saved []checkpoint.FileState // the durable checkpoint: only what Persist saved
	var h *harness
	p := config.Pipeline{StartAt: "end"}
	h = newHarness(t, p, &testSink{}, 0, func(o *Options) {
		o.Persist = func() error {
			mu.Lock()
			defer mu.Unlock()
			saved = h.tl.Snapshot()
			return nil
		}
	})
	old := h.path("old.log")
	writeFile(t, old, "history\n")
	h.start()
	waitFor(t, "old.log known", func() bool { _, ok := h.stateOf(old); return ok })
	appendFile(t, old, "old1\n")
	writeFile(t, h.path("new.log"), "new1\nnew2\n")
	h.waitLines(3) // none acknowledged
	h.stop()

	mu.Lock()
	restore := slices.Clone(saved)
	mu.Unlock()
	sink2 := &testSink{autoAck: true}
	h2 := newHarness(t, config.Pipeline{Paths: []string{filepath.Join(h.dir, "*.log")}, StartAt: "end"}, sink2, 0,
		withRestore(restore...))
	h2.start()
	waitFor(t, "the unacknowledged lines again", func() bool {
		got := sink2.datas()
		return slices.Contains(got, "old1") && slices.Contains(got, "new1") && slices.Contains(got, "new2")
	})
	if got := sink2.datas(); slices.Contains(got, "history") {
		t.Errorf("restart read %q: old.log was present at the first start, its history is skipped", got)
	}
}
