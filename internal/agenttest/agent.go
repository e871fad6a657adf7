package agenttest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Agent is the real logship binary run as a child process with its own
// configuration file, data dir and log file. It may be started again after
// it stopped (a restart keeps the dir, the data and the log). Its methods
// are called from one goroutine (the test's or the benchmark's), except
// Running, ExitErr and Alive, which any goroutine may call.
type Agent struct {
	// Bin is the binary Start runs.
	Bin string
	// Dir is the agent's own directory: ConfigPath and LogPath are in it,
	// and configurations written by callers put data_dir at Dir/data.
	Dir string
	// ConfigPath is passed as run -config; callers write it.
	ConfigPath string
	// LogPath collects the agent's stdout and stderr of every start.
	LogPath string
	// HTTP is the free loopback address chosen for http.listen.
	HTTP string
	// Env is added to the environment of the test process.
	Env []string
	// Cgroup, if set, is a cgroup directory (v1 memory or v2) the agent is
	// started in: a shell writes its own pid to cgroup.procs and execs the
	// agent, so the agent reads its cgroup limit from its first instruction.
	Cgroup string

	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	runs    int
}

// New returns an Agent of bin in dir (created 0700 if missing), with a free
// loopback address for its HTTP endpoint. It starts nothing.
func New(bin, dir string) (*Agent, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agenttest: %w", err)
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	return &Agent{Bin: bin, Dir: dir, ConfigPath: filepath.Join(dir, "agent.yaml"),
		LogPath: filepath.Join(dir, "agent.log"), HTTP: addr}, nil
}

// DataDir is Dir/data, the data_dir the configurations of the suites use.
func (a *Agent) DataDir() string { return filepath.Join(a.Dir, "data") }

// WriteConfig writes cfg to ConfigPath (0600).
func (a *Agent) WriteConfig(cfg string) error {
	return os.WriteFile(a.ConfigPath, []byte(cfg), 0o600)
}

// Start launches `Bin run -config ConfigPath`, appending its output to
// LogPath after a "---- start N ----" line. It does not wait for the agent
// to answer: see WaitHealthy. The agent is killed if the calling process
// dies (Pdeathsig).
func (a *Agent) Start() error {
	if a.Running() {
		return errors.New("agenttest: agent already running")
	}
	logf, err := os.OpenFile(a.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("agenttest: %w", err)
	}
	a.runs++
	fmt.Fprintf(logf, "---- start %d ----\n", a.runs)
	cmd := exec.Command(a.Bin, "run", "-config", a.ConfigPath)
	if a.Cgroup != "" {
		cmd = exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" run -config "$3"`,
			"sh", a.Cgroup, a.Bin, a.ConfigPath)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(a.Env) > 0 {
		cmd.Env = append(os.Environ(), a.Env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("agenttest: start %s: %w", a.Bin, err)
	}
	a.cmd = cmd
	exited := make(chan struct{})
	a.exited = exited
	// Exits when the agent does.
	go func() {
		a.exitErr = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	return nil
}

// WaitHealthy waits until /healthz answers 200; it fails at once if the
// agent exits meanwhile.
func (a *Agent) WaitHealthy(timeout time.Duration) error {
	return Until(timeout, 20*time.Millisecond, "agent /healthz", func() (bool, error) {
		if err := a.Alive(); err != nil {
			return false, fmt.Errorf("during start-up: %w", err)
		}
		return Status(a.HTTP, "/healthz") == 200, nil
	})
}

// Running reports whether the agent started and has not exited.
func (a *Agent) Running() bool {
	if a.exited == nil {
		return false
	}
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// ExitErr is the error of the last run's exit (nil while running or after
// a clean exit).
func (a *Agent) ExitErr() error {
	if a.Running() {
		return nil
	}
	return a.exitErr
}

// Alive returns nil while the agent runs, else an error with its exit
// status and the tail of its log.
func (a *Agent) Alive() error {
	if a.Running() {
		return nil
	}
	return fmt.Errorf("agent exited: %v; log tail:\n%s", a.ExitErr(), a.LogTail(15))
}

// Pid is the agent's process id (the shell's before it execs, with Cgroup).
func (a *Agent) Pid() int { return a.cmd.Process.Pid }

// ProcessState is the last run's exit state (nil while running).
func (a *Agent) ProcessState() *os.ProcessState {
	if a.Running() {
		return nil
	}
	return a.cmd.ProcessState
}

// Signal sends sig if the agent runs.
func (a *Agent) Signal(sig syscall.Signal) {
	if a.Running() {
		_ = a.cmd.Process.Signal(sig)
	}
}

// Kill continues a stopped agent, sends SIGKILL and waits for the exit. It
// does nothing if the agent is not running.
func (a *Agent) Kill() {
	if !a.Running() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGCONT)
	_ = a.cmd.Process.Kill()
	<-a.exited
}

// Term sends SIGTERM and waits for the exit. It returns an error if the
// agent was not running, exited non-zero, or did not exit within timeout
// (then it is killed).
func (a *Agent) Term(timeout time.Duration) error {
	if !a.Running() {
		return fmt.Errorf("agent not running (exit: %v)", a.ExitErr())
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		if a.exitErr != nil {
			return fmt.Errorf("agent exited with %v after SIGTERM", a.exitErr)
		}
		return nil
	case <-time.After(timeout):
		a.Kill()
		return fmt.Errorf("agent did not exit within %s of SIGTERM", timeout)
	}
}

// Readyz returns the status code of /readyz (0 when unreachable).
func (a *Agent) Readyz() int { return Status(a.HTTP, "/readyz") }

// Metric scrapes /metrics and returns the sum of every series of name.
func (a *Agent) Metric(name string) (float64, error) { return Scrape(a.HTTP, name) }

// PeakRSS returns the running agent's peak resident set (VmHWM) in bytes,
// -1 if it cannot be read.
func (a *Agent) PeakRSS() int64 {
	b, err := StatusBytes(a.Pid(), "VmHWM:")
	if err != nil {
		return -1
	}
	return b
}

// LogTail returns the last n lines of the agent's log.
func (a *Agent) LogTail(n int) string {
	b, _ := os.ReadFile(a.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
