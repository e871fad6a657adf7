package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logship/logship/internal/agenttest"
	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/sdnotify"
	"github.com/logship/logship/internal/tailer"
)

// notifySocket listens like systemd for sd_notify datagrams and returns the
// NOTIFY_SOCKET value and a function returning the datagrams received so far
// (those sent before the call are queued in the socket already).
func notifySocket(t *testing.T) (string, func() []string) {
	t.Helper()
	env := fmt.Sprintf("@logship-agent-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "\x00" + env[1:], Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return env, func() []string {
		var got []string
		buf := make([]byte, 4096)
		for {
			if err := conn.SetReadDeadline(time.Now()); err != nil {
				t.Fatal(err)
			}
			n, err := conn.Read(buf)
			if err != nil {
				return got
			}
			got = append(got, string(buf[:n]))
		}
	}
}

// syncWriter serialises writes to w (the agent logs from many goroutines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.w)
}

// testConfig writes an agent configuration shipping dir/logs/*.log to an
// unreachable broker with the HTTP endpoint on listen, and loads it.
func testConfig(t *testing.T, dir, listen string) (*config.Config, string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, `agent: {data_dir: %q, checkpoint_interval: 50ms, shutdown_timeout: 1s}
http: {listen: %q}
kafka: {brokers: ["127.0.0.1:1"]}
pipelines:
  - {name: app, paths: [%q], topic: logs.app}
`, filepath.Join(dir, "data"), listen, filepath.Join(dir, "logs", "*.log")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

// TestRunFailsWhenListenTaken: an HTTP endpoint that cannot bind fails the
// start with an error naming the address, before READY=1 — it must never
// leave the agent shipping without its checkpoint flusher (#18 defect 1).
func TestRunFailsWhenListenTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", env)
	t.Setenv("WATCHDOG_USEC", "")
	notifier, err := sdnotify.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg, path := testConfig(t, t.TempDir(), taken.Addr().String())
	logs := &syncWriter{w: new(strings.Builder)}
	log := slog.New(slog.NewTextHandler(logs, nil))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	// Exits when runAgent returns: at once when fixed, after cancel otherwise.
	go func() { done <- runAgent(ctx, cfg, runEnv{path: path, notify: notifier}, log) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
			t.Errorf("runAgent = %v, want an error naming %s", err, taken.Addr())
		}
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatalf("agent still running 10s after its HTTP listen failed; logs:\n%s", logs.String())
	}
	for _, m := range msgs() {
		if strings.Contains(m, "READY=1") {
			t.Errorf("READY=1 sent although the endpoint could not bind")
		}
	}
}

// TestRunExitCodeWhenListenTaken: the command exits 1 with a clear error.
func TestRunExitCodeWhenListenTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	t.Setenv("NOTIFY_SOCKET", "")
	_, path := testConfig(t, t.TempDir(), taken.Addr().String())
	var out, errb strings.Builder
	if code := run([]string{"run", "-config", path}, &out, &errb); code != exitFailure {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailure, errb.String())
	}
	if want := "listen " + taken.Addr().String(); !strings.Contains(errb.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, errb.String())
	}
}

// TestActorFailureStopsAll: an actor returning before it is stopped, even
// with nil, is a failure naming the actor; actors stopped through their
// context are not.
func TestActorFailureStopsAll(t *testing.T) {
	logs := &syncWriter{w: new(strings.Builder)}
	g := newActors(slog.New(slog.NewTextHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.Go(ctx, "patient", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	select {
	case <-g.Failed():
		t.Fatal("failed before any actor returned")
	default:
	}
	g.Go(ctx, "quitter", func(context.Context) error { return nil })
	select {
	case <-g.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("an actor returning early did not fail the group")
	}
	cancel()
	g.Wait()
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "quitter") || strings.Contains(err.Error(), "patient") {
		t.Errorf("Err = %v, want the quitter's failure only", err)
	}
	if !strings.Contains(logs.String(), "actor=quitter") {
		t.Errorf("failure not logged with the actor's name:\n%s", logs.String())
	}
}

// TestReloadValidationRegistersNothing: a reload's first phase builds the
// new pipelines only to validate them; it must register no metric series,
// so a rejected reload leaves none behind (#18 defect 8).
func TestReloadValidationRegistersNothing(t *testing.T) {
	dir := t.TempDir()
	cfg, path := testConfig(t, dir, "127.0.0.1:9")
	a, err := wire(cfg, runEnv{path: path}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.producer.Close(context.Background())
	pc := cfg.Pipelines[0]
	pc.Name = "candidate"
	pc.Topic = "logs.candidate"
	if _, err := a.newPipeline(pc, nil, tailer.Handover{}, nil); err != nil {
		t.Fatal(err)
	}
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pipeline" && l.GetValue() == pc.Name {
					t.Errorf("validating pipeline %q registered %s: a rejected reload leaves this series behind", pc.Name, mf.GetName())
				}
			}
		}
	}
}

// TestRunStopsWhenAnActorFails: a part of the agent failing while it runs
// stops the whole agent in the documented order (the final checkpoint is
// written) and fails it with the part's name.
func TestRunStopsWhenAnActorFails(t *testing.T) {
	dir := t.TempDir()
	cfg, path := testConfig(t, dir, agenttest.MustFreeAddr(t))
	logs := &syncWriter{w: new(strings.Builder)}
	a, err := wire(cfg, runEnv{path: path}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	broken := make(chan struct{})
	a.pipes[0].also = append(a.pipes[0].also, func(ctx context.Context) error {
		select {
		case <-broken:
			return errors.New("decoder broke")
		case <-ctx.Done():
			return nil
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	// Exits when the agent stops: after the failure below, or cancel.
	go func() { done <- a.run(ctx) }()
	agenttest.WaitFor(t, 30*time.Second, "pipelines running", func() bool { return strings.Contains(logs.String(), "pipelines running") })
	close(broken)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "pipeline app") || !strings.Contains(err.Error(), "decoder broke") {
			t.Errorf("run = %v, want the failure of pipeline app", err)
		}
	case <-time.After(20 * time.Second):
		cancel()
		<-done
		t.Fatalf("agent still running after one of its parts failed:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(cfg.Agent.DataDir, checkpoint.FileName)); err != nil {
		t.Errorf("no final checkpoint after the failure: %v", err)
	}
	if !strings.Contains(logs.String(), `actor="pipeline app"`) || !strings.Contains(logs.String(), "logship stopped") {
		t.Errorf("the failure or the shutdown was not logged:\n%s", logs.String())
	}
}
