package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest"
)

// notifySocket is a fake systemd notification socket: it collects the
// datagrams the agent sends to $NOTIFY_SOCKET.
type notifySocket struct {
	path     string
	conn     *net.UnixConn
	msgs     chan string
	watchdog atomic.Int64 // WATCHDOG=1 keep-alives received
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	// Socket paths are limited to 108 bytes; t.TempDir() may be longer.
	dir, err := os.MkdirTemp("", "lsn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &notifySocket{path: filepath.Join(dir, "notify"), msgs: make(chan string, 100)}
	s.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	// Exits when the socket is closed at cleanup.
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := s.conn.Read(buf)
			if err != nil {
				return
			}
			if m := string(buf[:n]); m == "WATCHDOG=1\n" {
				s.watchdog.Add(1)
			} else {
				s.msgs <- m
			}
		}
	}()
	t.Cleanup(func() { s.conn.Close(); <-done })
	return s
}

// expect waits for the next datagram other than a watchdog keep-alive and
// checks it starts with want.
func (s *notifySocket) expect(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		if !strings.HasPrefix(m, want) {
			t.Fatalf("notification %q, want %q", m, want)
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no %q notification within %s", strings.TrimSpace(want), timeout)
		return ""
	}
}

// status runs `logship status` with the agent's configuration; it must
// exit 0 (live state).
func (a *agentProc) status(t *testing.T, args ...string) string {
	t.Helper()
	return a.statusExit(t, 0, args...)
}

// statusExit runs `logship status` and wants exit code want (3: the agent
// is not reachable, the last checkpoint is shown).
func (a *agentProc) statusExit(t *testing.T, want int, args ...string) string {
	t.Helper()
	cmd := exec.Command(a.Bin, append([]string{"status", "-config", a.ConfigPath}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != want {
		t.Fatalf("logship status: exit %d (%v), want %d\n%s", code, err, want, errb.String())
	}
	return out.String()
}

// TestOpsNotifyMetricsStatus runs the agent as systemd would (a fake
// NOTIFY_SOCKET): READY=1 once pipelines run, RELOADING=1 + MONOTONIC_USEC
// then READY=1 on SIGHUP, STOPPING=1 on SIGTERM. At the end of the run the
// /metrics acknowledged count equals what the verifier read from Kafka and
// lines_read equals lines written; `logship status` is shown against the
// running and against the stopped agent. The systemd watchdog gets its
// keep-alives.
func TestOpsNotifyMetricsStatus(t *testing.T) {
	const files, perFile = 4, 5000
	sock := newNotifySocket(t)
	t.Setenv("NOTIFY_SOCKET", sock.path)
	t.Setenv("WATCHDOG_USEC", "1000000") // WatchdogSec=1s: a keep-alive every 500ms
	t.Setenv("WATCHDOG_PID", "")
	topic := newTopic(t, 3)
	dir := t.TempDir()
	w := newWriter(t, dir, files, 80)
	for i := range files {
		w.Write(t, i, perFile)
	}
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.start()
	sock.expect(t, "READY=1\n", 30*time.Second)
	waitShipped(t, topic, w.Total(), 2*time.Minute)
	// The checkpoint catches up after the acknowledgements: wait until
	// status shows nothing unshipped.
	var live string
	waitFor(t, time.Minute, "status with every file idle and nothing unshipped", func() bool {
		live = a.status(t)
		return strings.Count(live, " idle\n") == files && !strings.Contains(live, "shipping")
	})
	t.Logf("logship status (running agent):\n%s", live)

	a.Signal(syscall.SIGHUP)
	reloading := sock.expect(t, "RELOADING=1\nMONOTONIC_USEC=", 30*time.Second)
	sock.expect(t, "READY=1\n", 30*time.Second)

	acked, err := a.Metric("logship_records_acked_total")
	if err != nil {
		t.Fatal(err)
	}
	read, _ := a.Metric("logship_lines_read_total")
	retried, _ := a.Metric("logship_records_retried_total")
	dropped, _ := a.Metric("logship_records_dropped_total")
	a.term(30 * time.Second)
	sock.expect(t, "STOPPING=1\n", 5*time.Second)
	if n := sock.watchdog.Load(); n == 0 {
		t.Errorf("no WATCHDOG=1 keep-alive with WATCHDOG_USEC set")
	}

	tl := readTally(t, topic)
	missing, dups, first := tl.check(w.Written())
	t.Logf("written %d, read %.0f, acked %.0f (metrics), in Kafka %d, retried %.0f, dropped %.0f, missing %d, duplicates %d; reload sent %q; %d watchdog keep-alives",
		w.Total(), read, acked, tl.messages, retried, dropped, missing, dups, reloading, sock.watchdog.Load())
	if missing != 0 || tl.malformed != 0 {
		t.Fatalf("missing %d (first %s), malformed %d", missing, first, tl.malformed)
	}
	if read != float64(w.Total()) {
		t.Errorf("logship_lines_read_total %.0f, want the %d lines written", read, w.Total())
	}
	if dropped != 0 || read != acked+dropped {
		t.Errorf("C7: read %.0f != acked %.0f + dropped %.0f", read, acked, dropped)
	}
	if retried == 0 {
		if acked != float64(tl.messages) || dups != 0 {
			t.Errorf("no retries, yet logship_records_acked_total %.0f != %d records in Kafka (%d duplicates)", acked, tl.messages, dups)
		}
	} else if float64(tl.messages) < acked || float64(tl.messages) > acked+retried {
		// A retried request may have been written by the broker before it
		// failed: Kafka then holds at most `retried` more than acknowledged.
		t.Errorf("with %.0f retries: %d records in Kafka, acked %.0f", retried, tl.messages, acked)
	}

	stopped := a.statusExit(t, 3)
	t.Logf("logship status (stopped agent):\n%s", stopped)
	if !strings.Contains(stopped, "showing the last checkpoint of a stopped agent") {
		t.Errorf("status of a stopped agent does not say so:\n%s", stopped)
	}
	for i, p := range w.Paths() {
		size := strconv.FormatInt(lineEnds(i, perFile, len(w.Payload))[perFile-1], 10)
		row := ""
		for _, l := range strings.Split(stopped, "\n") {
			if strings.Contains(l, p+" ") {
				row = l
			}
		}
		if f := strings.Fields(row); len(f) < 7 || f[2] != size || f[3] != size || f[4] != "0" || f[6] != "stopped" {
			t.Errorf("stopped status row for %s = %q, want offset = size = %s, 0 unshipped, stopped", p, row, size)
		}
	}
}

// TestOpsReadyzBrokerPause: /readyz fails within http.ready_stall after the
// broker is paused (SIGSTOP) and recovers after it resumes; nothing written
// meanwhile is lost.
func TestOpsReadyzBrokerPause(t *testing.T) {
	const stall = 3 * time.Second
	topic := newTopic(t, 3)
	dir := t.TempDir()
	w := newWriter(t, dir, 2, 80)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	if err := os.WriteFile(a.ConfigPath, []byte(strings.Replace(mustRead(t, a.ConfigPath), "http:\n",
		fmt.Sprintf("http:\n  ready_stall: %s\n", stall), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	a.start()
	ctx, stop := context.WithCancel(context.Background())
	done := w.Run(t, ctx, 500)
	waitFor(t, time.Minute, "/readyz 200", func() bool { return a.Readyz() == http.StatusOK })
	waitShipped(t, topic, 200, time.Minute)

	resume := pauseBroker(t)
	paused := time.Now()
	// The deadline is generous so a slow machine shows its figure instead
	// of a timeout; the assertion on the figure follows.
	waitFor(t, 30*time.Second, "/readyz failing", func() bool { return a.Readyz() == http.StatusServiceUnavailable })
	failedAfter := time.Since(paused)
	body := readyzBody(t, a)

	resume()
	resumedAt := time.Now()
	waitFor(t, time.Minute, "/readyz 200 after resume", func() bool { return a.Readyz() == http.StatusOK })
	recoveredAfter := time.Since(resumedAt)
	stop()
	<-done
	waitShipped(t, topic, w.Total(), 2*time.Minute)
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check(w.Written())
	t.Logf("ready_stall %s: /readyz failed %s after the pause (%q), ready again %s after resume; %d lines, missing %d, duplicates %d",
		stall, failedAfter.Round(10*time.Millisecond), body, recoveredAfter.Round(10*time.Millisecond), w.Total(), missing, dups)
	// The probe's last answer predates the pause, so /readyz must fail
	// within ready_stall; one second covers polling and the HTTP round trip.
	if failedAfter > stall+time.Second {
		t.Errorf("/readyz failed %s after the pause, want within ready_stall %s (+1s polling)", failedAfter, stall)
	}
	if missing != 0 {
		t.Fatalf("missing %d (first %s)", missing, first)
	}
}

func readyzBody(t *testing.T, a *agentProc) string {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + a.HTTP + "/readyz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return strings.TrimSpace(b.String())
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// opsPipeline is one pipeline of a reload test configuration.
type opsPipeline struct {
	name, topic string
	globs       []string
}

// writeOpsConfig rewrites the agent's configuration with the given
// pipelines (and an extra line under kafka:).
func writeOpsConfig(t *testing.T, a *agentProc, kafkaExtra string, ps ...opsPipeline) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `agent:
  host: test-host
  data_dir: %s
  shutdown_timeout: 20s
  checkpoint_interval: 200ms
  log_level: debug
http:
  listen: %q
kafka:
  brokers: [%q]
  linger: 5ms
  request_timeout: 10s
  retry_backoff_max: 1s
%s
pipelines:
`, filepath.Join(a.Dir, "data"), a.HTTP, cluster.Bootstrap(), kafkaExtra)
	for _, p := range ps {
		fmt.Fprintf(&b, "  - name: %s\n    topic: %s\n    key: source\n    rescan_interval: 500ms\n    paths:\n", p.name, p.topic)
		for _, g := range p.globs {
			fmt.Fprintf(&b, "      - %q\n", g)
		}
	}
	if err := os.WriteFile(a.ConfigPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the agent log contains s n times.
func waitLog(t *testing.T, a *agentProc, s string, n int) {
	t.Helper()
	waitFor(t, time.Minute, fmt.Sprintf("%d × %q in the agent log", n, s), func() bool {
		return strings.Count(mustRead(t, a.LogPath), s) >= n
	})
}

func hw(t *testing.T, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := cluster.HighWatermarks(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, v := range m {
		sum += v
	}
	return sum
}

// TestOpsReloadUnderLoad reloads the configuration with SIGHUP while
// writers keep writing: pipeline keep is unchanged, pipeline change gets an
// extra glob, pipeline drop is removed and pipeline added is new. Files in
// both configurations (keep's and change's) end with 0 missing and 0
// duplicates; the new glob's and the added pipeline's files are shipped; the
// removed pipeline ships nothing written after the reload. An invalid file
// on SIGHUP is rejected and shipping goes on; a kafka change is reported as
// requiring a restart.
func TestOpsReloadUnderLoad(t *testing.T) {
	const rate = 1500
	root := t.TempDir()
	dirs := map[string]string{}
	for _, d := range []string{"keep", "change", "extra", "drop", "added"} {
		dirs[d] = filepath.Join(root, d)
		if err := os.Mkdir(dirs[d], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	topics := map[string]string{}
	for _, p := range []string{"keep", "change", "drop", "added"} {
		topics[p] = newTopic(t, 3)
	}
	wKeep := newWriter(t, dirs["keep"], 3, 80)
	wChange := newWriter(t, dirs["change"], 3, 80)
	wDrop := newWriter(t, dirs["drop"], 2, 80)
	wAdded := newWriter(t, dirs["added"], 2, 80)
	wExtra := newWriter(t, dirs["extra"], 1, 80)
	wAdded.Write(t, 0, 1000)
	wExtra.Write(t, 0, 1000)

	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topics["keep"], Glob: filepath.Join(dirs["keep"], "*.log")})
	keep := opsPipeline{"keep", topics["keep"], []string{filepath.Join(dirs["keep"], "*.log")}}
	change := opsPipeline{"change", topics["change"], []string{filepath.Join(dirs["change"], "*.log")}}
	drop := opsPipeline{"drop", topics["drop"], []string{filepath.Join(dirs["drop"], "*.log")}}
	writeOpsConfig(t, a, "", keep, change, drop)
	a.start()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	doneKeep := wKeep.Run(t, ctx, rate)
	doneChange := wChange.Run(t, ctx, rate)
	wDrop.Write(t, 0, 500)
	wDrop.Write(t, 1, 500)
	waitShipped(t, topics["drop"], 1000, time.Minute)
	waitShipped(t, topics["change"], 1000, time.Minute)

	// An invalid configuration is rejected; the running one keeps going.
	if err := os.WriteFile(a.ConfigPath, []byte(mustRead(t, a.ConfigPath)+"bogus_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a.Signal(syscall.SIGHUP)
	waitLog(t, a, "configuration reload rejected", 1)
	before := hw(t, topics["keep"])
	waitShipped(t, topics["keep"], int(before)+1000, time.Minute)

	// The real reload, under load.
	change.globs = append(change.globs, filepath.Join(dirs["extra"], "*.log"))
	added := opsPipeline{"added", topics["added"], []string{filepath.Join(dirs["added"], "*.log")}}
	writeOpsConfig(t, a, "  client_id: logship-reloaded", keep, change, added)
	reloadAt := time.Now()
	a.Signal(syscall.SIGHUP)
	waitLog(t, a, "configuration reloaded", 1)
	reloadTook := time.Since(reloadAt)
	log := mustRead(t, a.LogPath)
	if !strings.Contains(log, "configuration change requires restart") || !strings.Contains(log, "kafka.client_id") {
		t.Errorf("the kafka.client_id change was not reported as requiring a restart")
	}
	dropShipped := hw(t, topics["drop"])
	// Lines for the removed pipeline, and a marker for the added one written
	// at the same time: once the marker is in Kafka the agent has scanned
	// after these writes.
	wDrop.Write(t, 0, 100)
	wAdded.Write(t, 1, 1)

	time.Sleep(2 * time.Second) // load continues after the reload
	stop()
	<-doneKeep
	<-doneChange
	waitShipped(t, topics["keep"], wKeep.Total(), 2*time.Minute)
	waitShipped(t, topics["change"], wChange.Total()+wExtra.Total(), 2*time.Minute)
	waitShipped(t, topics["added"], wAdded.Total(), 2*time.Minute)
	statusOut := a.status(t)
	a.term(30 * time.Second)

	if got := hw(t, topics["drop"]); got != dropShipped || dropShipped != 1000 {
		t.Errorf("removed pipeline: %d records in its topic at the reload (want 1000), %d at the end (want no more)", dropShipped, got)
	}
	if strings.Contains(statusOut, "drop ") || !strings.Contains(statusOut, "added ") {
		t.Errorf("status after reload should list added and not drop:\n%s", statusOut)
	}
	// Files in both configurations: nothing missing, nothing twice. The
	// change topic also holds the extra glob's file: split by key (the path).
	rctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	changeMsgs, err := cluster.ReadAll(rctx, topics["change"])
	if err != nil {
		t.Fatal(err)
	}
	var fromChange, fromExtra []kafkatest.Message
	for _, m := range changeMsgs {
		if strings.HasPrefix(string(m.Key), dirs["extra"]+"/") {
			fromExtra = append(fromExtra, m)
		} else {
			fromChange = append(fromChange, m)
		}
	}
	for _, c := range []struct {
		name    string
		tl      *tally
		written []int
	}{
		{"keep (unchanged)", readTally(t, topics["keep"]), wKeep.Written()},
		{"change (in both configs, globs changed)", tallyOf(fromChange), wChange.Written()},
		{"change's new glob", tallyOf(fromExtra), wExtra.Written()},
		{"added pipeline", readTally(t, topics["added"]), wAdded.Written()},
	} {
		missing, dups, first := c.tl.check(c.written)
		written := 0
		for _, n := range c.written {
			written += n
		}
		t.Logf("%s: %d lines written, missing %d, duplicates %d", c.name, written, missing, dups)
		if missing != 0 || dups != 0 || c.tl.malformed != 0 {
			t.Errorf("%s: missing %d (first %s), duplicates %d, malformed %d", c.name, missing, first, dups, c.tl.malformed)
		}
	}
	t.Logf("reload under %d lines/s per writer took %s", rate, reloadTook.Round(time.Millisecond))
}

// TestOpsReloadTimeoutCountsDuplicates (#11 item 8): with the broker
// paused, a reload changes a pipeline and its wait for acknowledgements
// (shutdown_timeout) expires; the successor reads the pending lines again
// from the committed offsets while the producer still delivers the old
// records. Those duplicates are bounded by logship_records_retried_total.
func TestOpsReloadTimeoutCountsDuplicates(t *testing.T) {
	dir := t.TempDir()
	topic := newTopic(t, 1)
	w := newWriter(t, dir, 1, 80)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	p := opsPipeline{"change", topic, []string{filepath.Join(dir, "*.log")}}
	writeConfig := func() {
		writeOpsConfig(t, a, "", p)
		cfg := strings.Replace(mustRead(t, a.ConfigPath), "shutdown_timeout: 20s", "shutdown_timeout: 1s", 1)
		if err := os.WriteFile(a.ConfigPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig()
	a.start()
	w.Write(t, 0, 200)
	waitShipped(t, topic, 200, time.Minute)

	resume := pauseBroker(t)
	w.Write(t, 0, 300)
	waitFor(t, 30*time.Second, "500 lines read", func() bool {
		n, err := a.Metric("logship_lines_read_total")
		return err == nil && n >= 500
	})
	p.globs = append(p.globs, filepath.Join(dir, "*.txt")) // a changed pipeline
	writeConfig()
	a.Signal(syscall.SIGHUP)
	waitLog(t, a, "reload: acknowledgements still pending", 1)
	waitLog(t, a, "configuration reloaded", 1)
	resume()
	waitShipped(t, topic, 500, time.Minute)
	waitFor(t, time.Minute, "every record acknowledged", func() bool {
		n, err := a.Metric("logship_inflight_bytes")
		return err == nil && n == 0
	})
	retried := a.metricOr(t, "logship_records_retried_total")
	a.term(30 * time.Second)
	missing, dups, first := readTally(t, topic).check(w.Written())
	t.Logf("reload timed out with the broker paused: %d lines, missing %d, duplicates %d, retried_total %.0f", w.Total(), missing, dups, retried)
	if missing != 0 {
		t.Fatalf("missing %d (first %s)", missing, first)
	}
	if dups == 0 {
		t.Fatal("no duplicates: the scenario did not hand pending lines over")
	}
	if float64(dups) > retried {
		t.Fatalf("%d duplicates, logship_records_retried_total %.0f: the counter does not bound them", dups, retried)
	}
}
