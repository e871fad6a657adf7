package tailer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logship/logship/internal/config"
)

// TestSymlinkFlipNeverEscapes (F35): a symlink matched by the glob is
// flipped with rename(2) between a target inside the glob's root and one
// outside, as fast as possible, while the tailer rescans every 10 ms. No
// byte of the outside file may ever be read, however the flips fall
// between resolving, checking and opening; the inside file is read.
func TestSymlinkFlipNeverEscapes(t *testing.T) {
	for _, mode := range resolveModes {
		t.Run(mode.name, func(t *testing.T) {
			defer mode.set()()
			testSymlinkFlip(t, 5*time.Second)
		})
	}
}

// resolveModes runs a test with openat2 (where the kernel has it) and with
// the O_NOFOLLOW walk that replaces it elsewhere.
var resolveModes = []struct {
	name string
	set  func() (restore func())
}{
	{"openat2", func() func() { return func() {} }},
	{"walk", func() func() {
		was := noOpenat2.Swap(true)
		return func() { noOpenat2.Store(was) }
	}},
}

func testSymlinkFlip(t *testing.T, d time.Duration) {
	const secret = "OUTSIDE-SECRET"
	h := newHarness(t, config.Pipeline{RescanInterval: 10 * time.Millisecond}, nil, 0)
	outside := filepath.Join(t.TempDir(), "secret.txt")
	writeFile(t, outside, strings.Repeat(secret+"\n", 100))
	inside := h.path("inside.txt") // not matched by *.log: read only through the links
	writeFile(t, inside, "inside\n")

	const links = 4
	stop := make(chan struct{})
	var flippers sync.WaitGroup
	var flips sync.Map
	for i := range links {
		link, tmp := h.path(fmt.Sprintf("flip%d.log", i)), h.path(fmt.Sprintf(".flip%d.tmp", i))
		// Exits when stop is closed.
		flippers.Go(func() {
			n := 0
			for ; ; n++ {
				select {
				case <-stop:
					flips.Store(i, n)
					return
				default:
				}
				target := inside
				if n%2 == 1 {
					target = outside
				}
				_ = os.Remove(tmp)
				if err := os.Symlink(target, tmp); err != nil {
					t.Error(err)
					flips.Store(i, n)
					return
				}
				if err := os.Rename(tmp, link); err != nil {
					t.Error(err)
					flips.Store(i, n)
					return
				}
			}
		})
	}
	h.start()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && !t.Failed() {
		if leaked(h) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	flippers.Wait()
	total := 0
	flips.Range(func(_, v any) bool { total += v.(int); return true })
	if leaked(h) {
		t.Fatalf("read bytes of the outside file through a flipped symlink (after < %d flips)", total)
	}
	waitFor(t, "the inside file read", func() bool { return h.sink.count() > 0 })
	t.Logf("%d flips over %d links: no outside byte read; %v outside-root refusals counted", total, links,
		h.metric("logship_discovery_errors_total", "reason", reasonOutside))
}

// leaked reports whether any line holds the outside file's content.
func leaked(h *harness) bool {
	for _, d := range h.sink.datas() {
		if strings.Contains(d, "OUTSIDE") {
			return true
		}
	}
	return false
}

// TestConfinerResolve: what the confiner resolves and refuses, with
// openat2 and with the walk.
func TestConfinerResolve(t *testing.T) {
	base := t.TempDir()
	in, other, out := filepath.Join(base, "in"), filepath.Join(base, "other"), filepath.Join(base, "out")
	for _, d := range []string{in, filepath.Join(in, "sub"), other, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(in, "sub", "f.log"), "in\n")
	writeFile(t, filepath.Join(other, "g.log"), "other\n")
	writeFile(t, filepath.Join(out, "s.log"), "out\n")
	links := map[string]string{
		"in/rel.log":      "sub/f.log",
		"in/abs.log":      filepath.Join(in, "sub", "f.log"),
		"in/up.log":       "../out/s.log",
		"in/abs-out.log":  filepath.Join(out, "s.log"),
		"in/other.log":    "../other/g.log",
		"in/dirlink":      "../out",
		"in/dirlink-in":   "sub",
		"in/loop.log":     "loop.log",
		"in/chain.log":    "rel.log",
		"in/dangling.log": "missing",
		"inlink":          "in",
		"in/via-real.log": filepath.Join(in, "sub", "f.log"),
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(base, l)); err != nil {
			t.Fatal(err)
		}
	}
	c := &confiner{roots: []string{in, other}}
	// A root that is a symlink: a link in it may name the real location.
	viaLink := &confiner{roots: []string{filepath.Join(base, "inlink")}}
	cases := []struct {
		path string
		want string // content, or the error
	}{
		{"in/sub/f.log", "in\n"},
		{"in/rel.log", "in\n"},
		{"in/abs.log", "in\n"},
		{"in/chain.log", "in\n"},
		{"in/dirlink-in/f.log", "in\n"},
		{"in/other.log", "other\n"},
		{"in/up.log", "outside"},
		{"in/abs-out.log", "outside"},
		{"in/dirlink/s.log", "outside"},
		{"out/s.log", "outside"},
		{"in/loop.log", "too many levels"},
		{"in/dangling.log", "no such file"},
	}
	for _, mode := range resolveModes {
		t.Run(mode.name, func(t *testing.T) {
			defer mode.set()()
			for _, tc := range cases {
				f, err := c.open(filepath.Join(base, tc.path))
				got := ""
				if err != nil {
					got = err.Error()
				} else {
					b, rerr := io.ReadAll(f)
					f.Close()
					if rerr != nil {
						t.Fatal(rerr)
					}
					got = string(b)
				}
				if !strings.Contains(got, tc.want) {
					t.Errorf("open %s: %q, want %q", tc.path, got, tc.want)
				}
				info, err := c.stat(filepath.Join(base, tc.path))
				if (err == nil) != strings.HasSuffix(tc.want, "\n") || (err == nil && !info.regular) {
					t.Errorf("stat %s: %+v, %v; want like open", tc.path, info, err)
				}
			}
			f, err := viaLink.open(filepath.Join(base, "inlink", "via-real.log"))
			if err != nil {
				t.Errorf("a link naming the real location of a symlinked root: %v", err)
			} else {
				f.Close()
			}
			if _, err := viaLink.open(filepath.Join(base, "inlink", "up.log")); !errors.Is(err, errOutside) {
				t.Errorf("open inlink/up.log: %v, want outside", err)
			}
		})
	}
}

// TestSymlinkRoots: the kubelet's /var/log/containers/*.log are absolute
// symlinks into /var/log/pods. They are refused unless /var/log/pods is a
// configured symlink root; a link elsewhere stays refused either way.
func TestSymlinkRoots(t *testing.T) {
	for _, allowed := range []bool{false, true} {
		t.Run(fmt.Sprintf("symlink_roots=%v", allowed), func(t *testing.T) {
			base := t.TempDir()
			pods, containers := filepath.Join(base, "pods"), filepath.Join(base, "containers")
			for _, d := range []string{filepath.Join(pods, "ns_web_uid", "nginx"), containers} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			logFile := filepath.Join(pods, "ns_web_uid", "nginx", "0.log")
			writeFile(t, logFile, "pod-line\n")
			secret := filepath.Join(base, "secret.log")
			writeFile(t, secret, "OUTSIDE\n")
			for link, target := range map[string]string{"web_ns_nginx-abc.log": logFile, "evil_ns_x-def.log": secret} {
				if err := os.Symlink(target, filepath.Join(containers, link)); err != nil {
					t.Fatal(err)
				}
			}
			p := config.Pipeline{Paths: []string{"*.log"}}
			if allowed {
				p.SymlinkRoots = []string{pods}
			}
			h := newHarness(t, p, nil, 0)
			h.retarget(filepath.Join(containers, "*.log"))
			h.tl.conf.roots = append(h.tl.conf.roots, p.SymlinkRoots...) // as New adds them
			h.start()
			want := 2.0 // both links lead outside the glob's directory
			if allowed {
				h.waitLines(1)
				want = 1 // only the one leading elsewhere
			}
			waitFor(t, "refusals counted", func() bool {
				return h.metric("logship_discovery_errors_total", "reason", reasonOutside) == want
			})
			if got := strings.Join(h.sink.datas(), " "); allowed && got != "pod-line" || !allowed && got != "" {
				t.Errorf("lines %q", got)
			}
		})
	}
}
