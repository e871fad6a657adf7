package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// usage is the resource use of one process.
type usage struct {
	CPU     time.Duration // user + system
	PeakRSS int64         // bytes (VmHWM, or ru_maxrss after exit)
	RSS     int64         // bytes (VmRSS; 0 after exit)
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// procUsage reads a live process's CPU time from /proc/<pid>/stat and its
// peak and current RSS from /proc/<pid>/status.
func procUsage(pid int) (usage, error) {
	var u usage
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return u, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("/proc/%d/stat: malformed times", pid)
	}
	u.CPU = time.Duration(ut+st) * time.Second / clockTicks
	st2, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, l := range strings.Split(string(st2), "\n") {
		var dst *int64
		switch {
		case strings.HasPrefix(l, "VmHWM:"):
			dst = &u.PeakRSS
		case strings.HasPrefix(l, "VmRSS:"):
			dst = &u.RSS
		default:
			continue
		}
		fs := strings.Fields(l)
		if len(fs) >= 2 {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			*dst = kb * 1024
		}
	}
	return u, nil
}

// exitUsage is the whole-life resource use of an exited process.
func exitUsage(ps *os.ProcessState) usage {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return usage{}
	}
	return usage{
		CPU:     time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		PeakRSS: ru.Maxrss * 1024, // KiB on Linux
	}
}

// agentProc is one running logship process.
type agentProc struct {
	cmd     *exec.Cmd
	dir     string
	logPath string
	http    string
	exited  chan struct{}
	exitErr error
}

// agentConfig is what differs between the logship runs of the bench.
type agentConfig struct {
	Brokers    string
	Topic      string
	Glob       string
	Partitions int
	// MemoryLimit overrides agent.memory_limit ("" keeps the default).
	MemoryLimit string
}

// startLogship writes a configuration into a fresh dir and starts bin with
// it. Settings follow the issue: acks=all, lz4, linger 10ms, batch_bytes
// 1MiB (all defaults, written out so a change of defaults cannot skew the
// comparison), key none with round_robin, raw serializer, the default
// memory_limit.
func startLogship(bin, dir string, c agentConfig, env []string) (*agentProc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	mem := ""
	if c.MemoryLimit != "" {
		mem = "  memory_limit: " + c.MemoryLimit + "\n"
	}
	cfg := fmt.Sprintf(`agent:
  host: bench
  data_dir: %q
  log_level: warn
%shttp:
  listen: %q
kafka:
  brokers: [%q]
  acks: all
  compression: lz4
  linger: 10ms
  batch_bytes: 1MiB
pipelines:
  - name: bench
    paths: [%q]
    topic: %q
    key: none
    partitioner: round_robin
    serializer: raw
    start_at: beginning
`, filepath.Join(dir, "data"), mem, addr, c.Brokers, c.Glob, c.Topic)
	cfgPath := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	a := &agentProc{dir: dir, logPath: filepath.Join(dir, "agent.log"), http: addr, exited: make(chan struct{})}
	logf, err := os.Create(a.logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	a.cmd = cmd
	// Exits when the agent does.
	go func() {
		a.exitErr = cmd.Wait()
		logf.Close()
		close(a.exited)
	}()
	return a, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// alive returns nil while the agent runs.
func (a *agentProc) alive() error {
	select {
	case <-a.exited:
		return fmt.Errorf("logship exited: %v; log tail:\n%s", a.exitErr, a.logTail())
	default:
		return nil
	}
}

func (a *agentProc) logTail() string {
	b, _ := os.ReadFile(a.logPath)
	return lastLines(string(b), 15)
}

// waitHealthy waits until /healthz answers.
func (a *agentProc) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := a.alive(); err != nil {
			return err
		}
		resp, err := http.Get("http://" + a.http + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("logship not healthy after %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric scrapes /metrics and returns the sum of all series of name.
func (a *agentProc) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return sumMetric(resp.Body, name)
}

func sumMetric(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sum, found := 0.0, false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, err
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("metric %s not found", name)
	}
	return sum, sc.Err()
}

// waitMetric polls /metrics every interval until name reaches want.
func (a *agentProc) waitMetric(name string, want float64, interval, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last float64
	for {
		v, err := a.metric(name)
		if err == nil {
			last = v
			if v >= want {
				return nil
			}
		}
		if err := a.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s = %v after %s, want %v", name, last, timeout, want)
		}
		time.Sleep(interval)
	}
}

// stop sends SIGTERM and waits for a clean exit; it returns the whole-life
// usage from rusage.
func (a *agentProc) stop(timeout time.Duration) (usage, error) {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(timeout):
		_ = a.cmd.Process.Kill()
		<-a.exited
		return usage{}, fmt.Errorf("logship did not exit within %s of SIGTERM", timeout)
	}
	u := exitUsage(a.cmd.ProcessState)
	if a.exitErr != nil {
		return u, fmt.Errorf("logship exited with %v; log tail:\n%s", a.exitErr, a.logTail())
	}
	return u, nil
}

// finishProfiles sends SIGUSR1 to a benchprofile build and waits until it
// has written its profiles (the marker file done appears).
func (a *agentProc) finishProfiles(done string, timeout time.Duration) error {
	_ = a.cmd.Process.Signal(syscall.SIGUSR1)
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(done); err == nil {
			return nil
		}
		if err := a.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("profiles not written within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops the agent without waiting for a drain (error paths).
func (a *agentProc) kill() {
	select {
	case <-a.exited:
	default:
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
