package tailer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUnreadableDirectory (F37): a directory of the globs that becomes
// unreadable hides its files, it does not delete them: the file read there
// is neither marked rotated nor closed and keeps being read; the directory
// is counted and shown. A directory unreadable from the start is reported
// too, and its files are read once it is readable. Run as uid 65534 by
// TestUnreadableDirectoryAsNobody (root ignores permissions).
func TestUnreadableDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	h := newHarness(t, Settings{Paths: []string{"*/*.log"}}, nil, 0)
	for _, d := range []string{"a", "b", "c"} {
		if err := os.Mkdir(h.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, h.path("a/x.log"), "a1\n")
	writeFile(t, h.path("b/old.log"), "b1\n")
	writeFile(t, h.path("c/z.log"), "c1\n")
	chmod(t, h.path("c"), 0)
	t.Cleanup(func() {
		for _, d := range []string{"b", "c"} {
			os.Chmod(h.path(d), 0o755)
		}
	})
	h.start()
	h.waitLines(2)

	chmod(t, h.path("b"), 0o300)              // searchable, not listable: the test can still append
	writeFile(t, h.path("a/new.log"), "a2\n") // found by a rescan that cannot list b
	waitFor(t, "a rescan after b became unreadable", func() bool {
		if st := fileState(h, h.path("b/old.log")); st != StateShipping && st != StateIdle {
			t.Fatalf("b/old.log is %q while its directory is unreadable, want it still read", st)
		}
		return h.sink.count() >= 3
	})
	appendFile(t, h.path("b/old.log"), "b2\n")
	h.waitLines(4)
	if st := fileState(h, h.path("b/old.log")); st != StateShipping && st != StateIdle {
		t.Fatalf("b/old.log is %q while its directory is unreadable, want it still read", st)
	}
	if n := h.metric("logship_rotations_total"); n != 0 {
		t.Errorf("%v rotations counted, want 0", n)
	}
	waitFor(t, "both directories counted", func() bool {
		return h.metric("logship_discovery_errors_total", "reason", reasonDirPermission) == 2
	})
	errs := h.tl.DiscoveryErrors()
	if len(errs) != 2 || errs[0].Path != h.path("b") || errs[1].Path != h.path("c") ||
		errs[0].Reason != reasonDirPermission || !strings.Contains(errs[0].Error, "permission denied") {
		t.Errorf("DiscoveryErrors %+v, want b and c, permission denied", errs)
	}

	chmod(t, h.path("b"), 0o755)
	chmod(t, h.path("c"), 0o755)
	h.waitLines(5) // c1
	waitFor(t, "errors cleared", func() bool { return len(h.tl.DiscoveryErrors()) == 0 })
	if n := h.metric("logship_discovery_errors_total", "reason", reasonDirPermission); n != 2 {
		t.Errorf("%v directory errors counted, want 2 (once per directory)", n)
	}
	if got := strings.Join(h.sink.datas(), " "); got != "a1 b1 a2 b2 c1" && got != "b1 a1 a2 b2 c1" {
		t.Errorf("lines %q, want a1 b1 a2 b2 c1, each once", got)
	}
}

// TestUnreadableDirectoryAsNobody runs TestUnreadableDirectory as uid 65534.
func TestUnreadableDirectoryAsNobody(t *testing.T) {
	t.Parallel()
	runAsNobody(t, "TestUnreadableDirectory")
}

// TestEMFILEDuringDiscovery (F37): a rescan that cannot open a directory
// for lack of descriptors waits and retries; it does not take the files
// there for deleted.
func TestEMFILEDuringDiscovery(t *testing.T) {
	h := newHarness(t, Settings{}, nil, 0)
	writeFile(t, h.path("a.log"), "a1\n")
	h.start()
	h.waitLines(1)
	waitFor(t, "a.log idle", func() bool { return fileState(h, h.path("a.log")) == StateIdle })
	// No descriptor left: the lowest free one is beyond the limit.
	restore := limitFDs(t, nextFD(t))
	waitFor(t, "EMFILE met by a rescan", func() bool {
		if st := fileState(h, h.path("a.log")); st != StateIdle {
			restore()
			t.Fatalf("a.log is %q after a rescan met EMFILE, want idle", st)
		}
		return h.metric("logship_discovery_errors_total", "reason", reasonDirEMFILE) >= 1
	})
	restore()
	appendFile(t, h.path("a.log"), "a2\n")
	h.waitLines(2)
	if n := h.metric("logship_rotations_total"); n != 0 {
		t.Errorf("%v rotations counted, want 0", n)
	}
	if got := strings.Join(h.sink.datas(), " "); got != "a1 a2" {
		t.Errorf("lines %q, want a1 a2", got)
	}
}

// fileState is the Status state of the generation at path, or "".
func fileState(h *harness, path string) string {
	for _, f := range h.tl.Status() {
		if f.Path == path {
			return f.State
		}
	}
	return ""
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// runAsNobody runs the test named test of this binary as uid 65534 and
// fails unless it passed there. It skips unless run as root.
func runAsNobody(t *testing.T, test string) {
	if os.Getenv("LOGSHIP_TAILER_CHILD") != "" || os.Geteuid() != 0 {
		t.Skipf("runs %s as uid 65534; needs root to switch", test)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		chmod(t, d, 0o777)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tailer.test")
	copyFile(t, exe, bin)
	chmod(t, bin, 0o755)
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "LOGSHIP_TAILER_CHILD=1", "TMPDIR="+dir, "HOME="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("%s as uid 65534: %v\n%s", test, err, out)
	}
}

// parkedPath waits until a generation is closed for the descriptor budget
// and returns its path.
func parkedPath(t *testing.T, h *harness) string {
	t.Helper()
	path := ""
	waitFor(t, "a file parked", func() bool {
		h.tl.mu.Lock()
		defer h.tl.mu.Unlock()
		for _, g := range h.tl.gens {
			g.mu.Lock()
			if g.state == genParked {
				path = g.path
			}
			g.mu.Unlock()
		}
		return path != ""
	})
	return path
}

// TestUnreadableParkedFile: a file closed for the descriptor budget that
// cannot be reopened (permission denied) keeps its state until it can; it
// did not leave its path. Run as uid 65534 by
// TestUnreadableParkedFileAsNobody.
func TestUnreadableParkedFile(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions; TestUnreadableParkedFileAsNobody runs this as uid 65534")
	}
	h := newHarness(t, Settings{MaxOpenFiles: 1}, nil, 0)
	writeFile(t, h.path("a.log"), "a\n")
	writeFile(t, h.path("b.log"), "b\n")
	h.start()
	h.waitLines(2)
	path := parkedPath(t, h)
	chmod(t, path, 0o200)
	appendFile(t, path, "more\n")
	waitFor(t, "the open failure counted", func() bool {
		return h.metric("logship_discovery_errors_total", "reason", reasonOpen) >= 1
	})
	chmod(t, path, 0o644)
	h.waitLines(3)
	if n := h.metric("logship_discovery_errors_total", "reason", reasonGoneParked); n != 0 {
		t.Errorf("%v files counted as gone while closed, want 0: it could not be opened for a while", n)
	}
}

// TestUnreadableParkedFileAsNobody runs TestUnreadableParkedFile as uid 65534.
func TestUnreadableParkedFileAsNobody(t *testing.T) {
	t.Parallel()
	runAsNobody(t, "TestUnreadableParkedFile")
}
