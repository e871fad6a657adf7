package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// NodeState is the observed state of a node's process.
type NodeState int

// Node states, as reported by NodeInfo.State.
const (
	NodeStopped NodeState = iota // no live process
	NodeRunning                  // live and not stopped by a signal
	NodePaused                   // live but stopped by SIGSTOP
)

// String returns "stopped", "running" or "paused".
func (s NodeState) String() string {
	switch s {
	case NodeRunning:
		return "running"
	case NodePaused:
		return "paused"
	default:
		return "stopped"
	}
}

// NodeInfo describes one node at the time Node was called.
type NodeInfo struct {
	Index          int       // position in the cluster; also the Kafka node.id
	Addr           string    // client listener, "127.0.0.1:port"
	ControllerAddr string    // KRaft controller listener
	Dir            string    // server.properties, log4j2.xml, logs and data/
	LogPath        string    // the broker's log4j2 log
	PID            int       // process (and process group) id; 0 if never started
	State          NodeState // observed when Node was called
}

// node is the mutable state of one node; guarded by Cluster.mu.
type node struct {
	index          int
	brokerPort     int
	controllerPort int
	dir            string
	listeners      []*nodeListener // Options.Listeners; none when attached
	pid            int
	done           chan struct{} // closed when an owned process exits; nil when attached
}

func (n *node) addr() string           { return "127.0.0.1:" + strconv.Itoa(n.brokerPort) }
func (n *node) controllerAddr() string { return "127.0.0.1:" + strconv.Itoa(n.controllerPort) }
func (n *node) propsPath() string      { return filepath.Join(n.dir, "server.properties") }
func (n *node) logPath() string        { return filepath.Join(n.dir, "server.log") }

// Stop sends SIGTERM to node i (and SIGCONT, in case it is paused) and waits
// for a clean exit. If ctx ends first (default deadline 60s when ctx has
// none) the node is killed and an error says the clean stop did not finish.
func (c *Cluster) Stop(ctx context.Context, i int) error {
	ctx, cancel := withDefaultTimeout(ctx, 60*time.Second)
	defer cancel()
	n, pid, err := c.live(i)
	if err != nil {
		return fmt.Errorf("kafkatest: stop: %w", err)
	}
	if err := signalGroup(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("kafkatest: stop node %d: %w", i, err)
	}
	_ = signalGroup(pid, syscall.SIGCONT) // a paused JVM handles SIGTERM only once continued
	if err := c.waitExit(ctx, n, pid); err != nil {
		kerr := c.Kill(i)
		return errors.Join(fmt.Errorf("kafkatest: stop node %d: no clean exit, killed: %w", i, err), kerr)
	}
	c.log.Info("node stopped", "node", i)
	return nil
}

// Kill sends SIGKILL to node i's process group and waits (up to 30s) until
// the process is gone.
func (c *Cluster) Kill(i int) error {
	n, pid, err := c.live(i)
	if err != nil {
		return fmt.Errorf("kafkatest: kill: %w", err)
	}
	if err := signalGroup(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kafkatest: kill node %d: %w", i, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.waitExit(ctx, n, pid); err != nil {
		return fmt.Errorf("kafkatest: kill node %d: %w", i, err)
	}
	c.log.Info("node killed", "node", i)
	return nil
}

// Pause freezes node i with SIGSTOP to its process group. Connections stay
// open; requests hang until Resume.
func (c *Cluster) Pause(i int) error { return c.signalStop(i, "pause", syscall.SIGSTOP, true) }

// Resume continues node i after Pause with SIGCONT.
func (c *Cluster) Resume(i int) error { return c.signalStop(i, "resume", syscall.SIGCONT, false) }

// signalStop sends sig to the process group of node i and waits until the
// kernel reports the process stopped (or no longer stopped); op names the
// action in errors.
func (c *Cluster) signalStop(i int, op string, sig syscall.Signal, stopped bool) error {
	_, pid, err := c.live(i)
	if err != nil {
		return fmt.Errorf("kafkatest: %s: %w", op, err)
	}
	if err := signalGroup(pid, sig); err != nil {
		return fmt.Errorf("kafkatest: %s node %d: %w", op, i, err)
	}
	if err := waitStopped(pid, stopped); err != nil {
		return fmt.Errorf("kafkatest: %s node %d: %w", op, i, err)
	}
	return nil
}

// waitStopped waits (up to 10s) until the kernel reports pid stopped (or no
// longer stopped): signal delivery is asynchronous, and callers of Pause
// rely on the broker being frozen when it returns.
func waitStopped(pid int, stopped bool) error {
	if !canSeeStopped {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pollUntil(ctx, 5*time.Millisecond, func() (bool, error) {
		alive, st := procStatus(pid)
		if !alive {
			return false, fmt.Errorf("process %d exited", pid)
		}
		return st == stopped, nil
	})
}

// Restart starts node i again on the same ports and data directory after Stop
// or Kill, and waits until it answers a metadata request that lists it (ctx
// and Options.ReadyTimeout bound the wait). After a Kill the controller
// refuses the new registration until the old session expires
// (broker.session.timeout.ms, 9s), so that restart takes a few seconds
// longer. It fails with ErrNodeRunning if the node's process is still alive.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	c.mu.Lock()
	n := c.nodes[i]
	if n.pid != 0 && procMatches(n.pid, n.propsPath()) {
		if alive, _ := procStatus(n.pid); alive {
			c.mu.Unlock()
			return fmt.Errorf("kafkatest: restart node %d: %w", i, ErrNodeRunning)
		}
	}
	err := c.launch(n)
	if err == nil {
		err = c.saveState()
	}
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("kafkatest: restart: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.ready)
	defer cancel()
	t0 := time.Now()
	if err := c.waitReady(ctx, n, 0); err != nil {
		return fmt.Errorf("kafkatest: restart: %w", err)
	}
	c.log.Info("node restarted", "node", i, "ready", time.Since(t0))
	return nil
}

// live returns node i and its pid if its process is alive.
func (c *Cluster) live(i int) (*node, int, error) {
	if i < 0 || i >= len(c.nodes) {
		return nil, 0, fmt.Errorf("node %d: no such node (cluster has %d)", i, len(c.nodes))
	}
	c.mu.Lock()
	n := c.nodes[i]
	pid := n.pid
	c.mu.Unlock()
	if pid == 0 || !procMatches(pid, n.propsPath()) {
		return nil, 0, fmt.Errorf("node %d: %w", i, ErrNodeNotRunning)
	}
	if alive, _ := procStatus(pid); !alive {
		return nil, 0, fmt.Errorf("node %d: %w", i, ErrNodeNotRunning)
	}
	return n, pid, nil
}

func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil {
		return fmt.Errorf("signal %v to process group %d: %w", sig, pid, err)
	}
	return nil
}

// waitExit waits until process pid of n is gone. Owned processes are reaped
// by their Wait goroutine; attached ones are polled.
func (c *Cluster) waitExit(ctx context.Context, n *node, pid int) error {
	c.mu.Lock()
	done := n.done
	if n.pid != pid {
		done = nil
	}
	c.mu.Unlock()
	if done != nil {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("process %d still alive: %w", pid, context.Cause(ctx))
		}
	}
	return pollUntil(ctx, 50*time.Millisecond, func() (bool, error) {
		alive, _ := procStatus(pid)
		return !alive, nil
	})
}

// launch starts n's JVM. Called with c.mu held.
