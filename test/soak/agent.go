package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/logship/logship/internal/checkpoint"
)

// agent is the logship binary under test, run as a child process.
type agent struct {
	bin     string
	dir     string
	cfgPath string
	logPath string
	addr    string
	render  func(alt bool) string // the config; alt changes the pipeline

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
	expected bool // the next exit was asked for (SIGKILL, SIGTERM)
	stopped  bool // frozen by SIGSTOP
	runs     int
	crashes  []string
}

// memoryLimit is small so that backpressure engages during outages.
const memoryLimit = "2MiB"

func newAgent(bin, workDir, bootstrap, topic, logDir string, maxOpenFiles int) (*agent, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	a := &agent{bin: bin, dir: workDir, cfgPath: filepath.Join(workDir, "agent.yaml"),
		logPath: filepath.Join(workDir, "agent.log"), addr: addr}
	var quoted []string
	for _, b := range strings.Split(bootstrap, ",") {
		quoted = append(quoted, strconv.Quote(b))
	}
	brokers := strings.Join(quoted, ", ")
	a.render = func(alt bool) string {
		rescan, closeInactive := "500ms", "2s"
		if alt {
			rescan, closeInactive = "300ms", "1s"
		}
		return fmt.Sprintf(`agent:
  host: soak
  data_dir: %s
  memory_limit: %s
  shutdown_timeout: 10s
  checkpoint_interval: 200ms
  log_level: info
  log_format: json
http:
  listen: %q
kafka:
  brokers: [%s]
  linger: 5ms
  batch_bytes: 512KiB
  max_record_bytes: 256KiB
  request_timeout: 5s
  retry_backoff_max: 1s
  metadata_refresh: 2s
pipelines:
  - name: soak
    paths: [%q, %q]
    topic: %s
    key: source
    serializer: raw
    rescan_interval: %s
    close_inactive: %s
    max_open_files: %d
`, a.dataDir(), memoryLimit, addr, brokers, filepath.Join(logDir, "*.log"), filepath.Join(logDir, "*.log.*"), topic,
			rescan, closeInactive, maxOpenFiles)
	}
	if err := os.WriteFile(a.cfgPath, []byte(a.render(false)), 0o600); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *agent) dataDir() string { return filepath.Join(a.dir, "data") }

// start launches the agent and waits for /healthz.
func (a *agent) start(ctx context.Context) error {
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.runs++
	fmt.Fprintf(logf, "---- soak: start %d at %s ----\n", a.runs, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(a.bin, "run", "-config", a.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		a.mu.Unlock()
		logf.Close()
		return fmt.Errorf("soak: start agent: %w", err)
	}
	a.cmd, a.exited, a.expected, a.stopped = cmd, make(chan struct{}), false, false
	exited := a.exited
	a.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		a.mu.Lock()
		a.exitErr = err
		if !a.expected {
			a.crashes = append(a.crashes, fmt.Sprintf("run %d exited unexpectedly: %v", a.runs, err))
		}
		a.mu.Unlock()
		close(exited)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("soak: agent exited during start-up: %v", a.exitErr)
		default:
		}
		c := http.Client{Timeout: time.Second}
		if resp, err := c.Get("http://" + a.addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.New("soak: agent /healthz not up within 90s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *agent) running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return false
	}
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

func (a *agent) pid() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return 0
	}
	return a.cmd.Process.Pid
}

// stop ends the process with sig (SIGKILL or SIGTERM) and waits for it.
func (a *agent) stop(sig syscall.Signal, timeout time.Duration) (exit error, err error) {
	if !a.running() {
		return nil, errors.New("soak: agent not running")
	}
	a.mu.Lock()
	a.expected = true
	cmd, exited := a.cmd, a.exited
	if a.stopped {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		a.stopped = false
	}
	a.mu.Unlock()
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return a.exitErr, nil
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		return a.exitErr, fmt.Errorf("soak: agent did not exit within %s of %v", timeout, sig)
	}
}

// freeze sends SIGSTOP (on) or SIGCONT (off).
func (a *agent) freeze(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil || a.stopped == on {
		return
	}
	select {
	case <-a.exited:
		return
	default:
	}
	if on {
		_ = a.cmd.Process.Signal(syscall.SIGSTOP)
	} else {
		_ = a.cmd.Process.Signal(syscall.SIGCONT)
	}
	a.stopped = on
}

func (a *agent) isFrozen() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped
}

func (a *agent) crashList() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.crashes...)
}

// metrics scrapes /metrics: the sum of all series per metric name.
func (a *agent) metrics() (map[string]float64, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + a.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		name := f[0]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		m[name] += v
	}
	return m, sc.Err()
}

// procSample is one look at the agent process in /proc.
type procSample struct {
	rss, hwm int64
	fds      int
}

func sampleProc(pid int) (procSample, error) {
	var s procSample
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			s.rss = kb << 10
		case "VmHWM:":
			s.hwm = kb << 10
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(ents)
	return s, nil
}

// readCheckpoint returns the agent's durable checkpoint entries, as Load
// would (none when no file exists yet).
func (a *agent) readCheckpoint() ([]checkpoint.FileState, error) {
	// Save moves the current file to .prev before renaming the new one
	// over it: a process frozen or killed in between has only .prev, which
	// is what Load falls back to.
	cur := filepath.Join(a.dataDir(), checkpoint.FileName)
	e, err := checkpoint.ReadFile(cur)
	if errors.Is(err, fs.ErrNotExist) {
		e, err = checkpoint.ReadFile(cur + checkpoint.PrevSuffix)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return e, err
}

// dump saves the agent's /status and /metrics in dir (for a stalled run).
func (a *agent) dump(dir string) {
	c := http.Client{Timeout: 5 * time.Second}
	for _, d := range []struct{ path, file string }{{"/status", "status.json"}, {"/metrics", "metrics.txt"}} {
		resp, err := c.Get("http://" + a.addr + d.path)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = os.WriteFile(filepath.Join(dir, d.file), b, 0o644)
	}
}

func (a *agent) runCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runs
}

// reload rewrites the config (alt: the changed pipeline) and sends SIGHUP.
func (a *agent) reload(alt bool) error {
	if err := os.WriteFile(a.cfgPath, []byte(a.render(alt)), 0o600); err != nil {
		return fmt.Errorf("soak: reload: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd != nil {
		_ = a.cmd.Process.Signal(syscall.SIGHUP)
	}
	return nil
}

// holds reports whether the running, unfrozen agent has a descriptor open on
// inode ino.
func (a *agent) holds(ino uint64) bool {
	pid := a.pid()
	if pid == 0 || !a.running() || a.isFrozen() {
		return false
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(dir, e.Name()), &st) == nil && st.Ino == ino {
			return true
		}
	}
	return false
}
