package packaging

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/agenttest"
)

// TestSystemdSyscallFilterCoversAgent runs the real agent under strace
// (start-up, file discovery and reading, a refused broker, the HTTP
// endpoint, SIGTERM and the drain; no broker runs, so no produce request) and checks every system call and socket
// family it used against the unit's SystemCallFilter= and
// RestrictAddressFamilies=. systemd cannot run the unit here (it is not PID
// 1), so this is how the filter is proven not to break the agent: a call
// outside it would fail with EPERM (SystemCallErrorNumber=EPERM) in
// production.
func TestSystemdSyscallFilterCoversAgent(t *testing.T) {
	straceBin, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is needed to check the unit's system call filter (Debian: apt-get install strace): %v", err)
	}
	u := parseUnit(t, readRepoFile(t, unitPath))
	filters := u["Service.SystemCallFilter"]
	if len(filters) != 2 || strings.HasPrefix(filters[0], "~") || !strings.HasPrefix(filters[1], "~") {
		t.Fatalf("SystemCallFilter=%q: this test understands one allow list followed by one deny list", filters)
	}
	allowed := expandSyscalls(t, strings.Fields(filters[0]))
	denied := expandSyscalls(t, strings.Fields(strings.TrimPrefix(filters[1], "~")))
	families := strings.Fields(u.one(t, "Service.RestrictAddressFamilies"))

	dir := t.TempDir()
	bin := filepath.Join(dir, "logship")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/agent")
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logs, "app.log"), []byte("first line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := agenttest.MustFreeAddr(t)
	cfg := fmt.Sprintf(`agent: { data_dir: %q, shutdown_timeout: 2s }
http: { listen: %q }
kafka: { brokers: [%q] }
pipelines:
  - { name: app, paths: [%q], topic: logs.app }
`, filepath.Join(dir, "data"), addr, agenttest.MustFreeAddr(t), filepath.Join(logs, "*.log"))
	if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// A notify socket and a watchdog, as systemd provides them, so that the
	// sd_notify path (READY=1, WATCHDOG=1, STOPPING=1) is traced too once the
	// agent implements it. The messages are logged, not yet asserted.
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	var notified []string
	notifyDone := make(chan struct{})
	// Exits when notify is closed below.
	go func() {
		defer close(notifyDone)
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			notified = append(notified, strings.ReplaceAll(string(buf[:n]), "\n", " "))
		}
	}()

	trace := filepath.Join(dir, "trace")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var agentLog strings.Builder
	cmd := exec.CommandContext(ctx, straceBin, "-f", "-qq", "-o", trace, "--", bin, "run", "-config", filepath.Join(dir, "agent.yaml"))
	cmd.Stdout, cmd.Stderr = &agentLog, &agentLog
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify.LocalAddr().String(), "WATCHDOG_USEC=2000000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	// Exits when strace exits (after the agent) or ctx kills it.
	go func() { done <- cmd.Wait() }()

	client := &http.Client{Timeout: 2 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	agenttest.WaitFor(t, 30*time.Second, "/healthz answering", func() bool { c, _ := get("/healthz"); return c == 200 })
	var last string
	// Without a broker the pipeline holds the first record until topic
	// metadata arrives (backpressure), so one line read is the whole file
	// path: discovery, inotify watch, open, read, checkpoint directory.
	agenttest.WaitFor(t, 30*time.Second, "the line read", func() bool {
		c, body := get("/metrics")
		last = body
		n, err := agenttest.SumMetric(strings.NewReader(body), "logship_lines_read_total")
		return c == 200 && err == nil && n >= 1
	}, func() string { return last + agentLog.String() })
	get("/readyz")

	// The agent is strace's child; signal it, not strace.
	agent := childPID(t, cmd.Process.Pid)
	if err := syscall.Kill(agent, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent under strace: %v\n%s", err, agentLog.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("agent did not stop after SIGTERM\n%s", agentLog.String())
	}

	notify.Close()
	<-notifyDone
	t.Logf("sd_notify messages: %q", notified)
	// Type=notify needs READY=1 once pipelines run and STOPPING=1 when
	// the drain starts, in that order.
	ready, stopping := -1, -1
	for i, m := range notified {
		switch {
		case strings.HasPrefix(m, "READY=1") && ready < 0:
			ready = i
		case strings.HasPrefix(m, "STOPPING=1"):
			stopping = i
		}
	}
	if ready < 0 || stopping < ready {
		t.Errorf("sd_notify: want READY=1 then STOPPING=1, got %q", notified)
	}

	used, socketFamilies := readTrace(t, trace)
	var outside, refused []string
	for _, name := range used {
		switch {
		case !allowed[name]:
			outside = append(outside, name)
		case denied[name]:
			refused = append(refused, name)
		}
	}
	t.Logf("agent used %d system calls, socket families %q: %s", len(used), socketFamilies, strings.Join(used, " "))
	if len(outside) > 0 {
		t.Errorf("system calls outside SystemCallFilter=%s: %q", filters[0], outside)
	}
	if len(refused) > 0 {
		t.Errorf("system calls denied by SystemCallFilter=%s: %q", filters[1], refused)
	}
	for _, fam := range socketFamilies {
		if !slices.Contains(families, fam) {
			t.Errorf("socket family %s is not in RestrictAddressFamilies=%q", fam, families)
		}
	}
	if !slices.Contains(used, "prlimit64") || !slices.Contains(used, "inotify_add_watch") || !slices.Contains(used, "fsync") {
		t.Errorf("the trace misses calls the agent certainly makes (prlimit64, inotify_add_watch, fsync): is strace following it? used %q", used)
	}
}

// expandSyscalls resolves systemd syscall-filter names (@groups, nested
// groups, plain calls) into a set of system call names, using the installed
// systemd's own tables.
func expandSyscalls(t *testing.T, names []string) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	seen := map[string]bool{}
	var add func(string)
	add = func(name string) {
		if !strings.HasPrefix(name, "@") {
			set[name] = true
			return
		}
		if seen[name] {
			return
		}
		seen[name] = true
		out, err := exec.Command(systemdAnalyze(t), "syscall-filter", "--no-pager", name).Output()
		if err != nil {
			t.Fatalf("systemd-analyze syscall-filter %s: %v", name, err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			line := sc.Text()
			member := strings.TrimSpace(line)
			if member == "" || strings.HasPrefix(member, "#") || !strings.HasPrefix(line, " ") {
				continue // the group's own name, comments
			}
			add(member)
		}
	}
	for _, n := range names {
		add(n)
	}
	if len(set) == 0 {
		t.Fatalf("systemd-analyze syscall-filter %q expanded to nothing", names)
	}
	return set
}

var (
	traceCallRE   = regexp.MustCompile(`^\d+\s+([a-z_0-9]+)\(`)
	traceResumeRE = regexp.MustCompile(`^\d+\s+<\.\.\. ([a-z_0-9]+) resumed>`)
	traceSocketRE = regexp.MustCompile(`\bsocket\((AF_[A-Z0-9]+)`)
)

// readTrace returns the distinct system calls and socket families in an
// `strace -f -o` file.
func readTrace(t *testing.T, path string) (calls, families []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	callSet, famSet := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if m := traceCallRE.FindStringSubmatch(line); m != nil {
			callSet[m[1]] = true
		} else if m := traceResumeRE.FindStringSubmatch(line); m != nil {
			callSet[m[1]] = true
		}
		if m := traceSocketRE.FindStringSubmatch(line); m != nil {
			famSet[m[1]] = true
		}
	}
	for c := range callSet {
		calls = append(calls, c)
	}
	for f := range famSet {
		families = append(families, f)
	}
	slices.Sort(calls)
	slices.Sort(families)
	if len(calls) < 20 {
		t.Fatalf("strace recorded only %d distinct calls: %q", len(calls), calls)
	}
	return calls, families
}

// childPID returns the only child of pid (strace's tracee).
func childPID(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data))
	if len(f) != 1 {
		t.Fatalf("strace (pid %d) has children %q, want exactly the agent", pid, f)
	}
	child, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return child
}
