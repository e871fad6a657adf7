package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/logship/logship/internal/agenttest"
)

// agentProc is one running logship process.
type agentProc struct {
	*agenttest.Agent
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
	ag, err := agenttest.New(bin, dir)
	if err != nil {
		return nil, err
	}
	a := &agentProc{Agent: ag}
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
`, a.DataDir(), mem, a.HTTP, c.Brokers, c.Glob, c.Topic)
	if err := a.WriteConfig(cfg); err != nil {
		return nil, err
	}
	a.Env = env
	if err := a.Start(); err != nil {
		return nil, err
	}
	return a, nil
}

// waitMetric polls /metrics every interval until name reaches want; it
// fails at once if the agent exits.
func (a *agentProc) waitMetric(name string, want float64, interval, timeout time.Duration) error {
	var last float64
	err := agenttest.Until(timeout, interval, fmt.Sprintf("%s >= %v", name, want), func() (bool, error) {
		if v, err := a.Metric(name); err == nil {
			last = v
			if v >= want {
				return true, nil
			}
		}
		return false, a.Alive()
	})
	if err != nil {
		return fmt.Errorf("%w (last %s = %v)", err, name, last)
	}
	return nil
}

// stop sends SIGTERM and waits for a clean exit; it returns the whole-life
// usage from rusage.
func (a *agentProc) stop(timeout time.Duration) (agenttest.Usage, error) {
	if err := a.Term(timeout); err != nil {
		return agenttest.Usage{}, fmt.Errorf("logship: %w; log tail:\n%s", err, a.LogTail(15))
	}
	return agenttest.ExitUsage(a.ProcessState()), nil
}

// finishProfiles sends SIGUSR1 to a benchprofile build and waits until it
// has written its profiles (the marker file done appears).
func (a *agentProc) finishProfiles(done string, timeout time.Duration) error {
	a.Signal(syscall.SIGUSR1)
	return agenttest.Until(timeout, 50*time.Millisecond, "profiles written", func() (bool, error) {
		if _, err := os.Stat(done); err == nil {
			return true, nil
		}
		return false, a.Alive()
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
