package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// listen opens a unixgram socket like systemd's and returns the value for
// NOTIFY_SOCKET and a function receiving one datagram (with a deadline).
func listen(t *testing.T, abstract bool) (string, func() string) {
	t.Helper()
	var name, env string
	if abstract {
		env = fmt.Sprintf("@logship-test-%d-%d", os.Getpid(), time.Now().UnixNano())
		name = "\x00" + env[1:]
	} else {
		// Socket paths are limited to 108 bytes; t.TempDir() can be longer.
		dir, err := os.MkdirTemp("", "sdn")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		name = filepath.Join(dir, "notify")
		env = name
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return env, func() string {
		t.Helper()
		buf := make([]byte, 4096)
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification received: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotifySocket(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			env, recv := listen(t, abstract)
			t.Setenv("NOTIFY_SOCKET", env)
			t.Setenv("WATCHDOG_USEC", "")
			n, err := FromEnv()
			if err != nil {
				t.Fatal(err)
			}
			if !n.Enabled() {
				t.Fatal("not enabled with NOTIFY_SOCKET set")
			}
			if err := n.Ready(); err != nil {
				t.Fatal(err)
			}
			if got := recv(); got != "READY=1\n" {
				t.Errorf("got %q, want READY=1", got)
			}
			if err := n.Reloading(); err != nil {
				t.Fatal(err)
			}
			got := recv()
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
				t.Fatalf("reloading sent %q", got)
			}
			usec, err := strconv.ParseUint(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
			if err != nil || usec == 0 {
				t.Errorf("MONOTONIC_USEC %q: %v", lines[1], err)
			}
			if now, _ := monotonicUsec(); now < usec {
				t.Errorf("monotonic clock went back: %d then %d", usec, now)
			}
			if err := n.Stopping(); err != nil {
				t.Fatal(err)
			}
			if got := recv(); got != "STOPPING=1\n" {
				t.Errorf("got %q, want STOPPING=1", got)
			}
		})
	}
}

func TestDisabledIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "1000000")
	n, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if n.Enabled() || n.WatchdogInterval() != 0 {
		t.Fatalf("enabled=%v watchdog=%v without NOTIFY_SOCKET", n.Enabled(), n.WatchdogInterval())
	}
	for _, f := range []func() error{n.Ready, n.Stopping, n.Reloading} {
		if err := f(); err != nil {
			t.Error(err)
		}
	}
	if err := n.RunWatchdog(context.Background(), nil); err != nil {
		t.Error(err)
	}
}

func TestSendFailureIsReported(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent"))
	n, _ := FromEnv()
	if err := n.Ready(); err == nil {
		t.Fatal("no error for a socket nobody listens on")
	}
}

func TestWatchdog(t *testing.T) {
	env, recv := listen(t, false)
	for _, tc := range []struct {
		name, usec, pid string
		want            time.Duration
		wantErr         bool
	}{
		{"this process", "200000", strconv.Itoa(os.Getpid()), 200 * time.Millisecond, false},
		{"no pid", "200000", "", 200 * time.Millisecond, false},
		{"other process", "200000", "1", 0, false},
		{"garbage", "soon", "", 0, true},
		{"zero", "0", "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", env)
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			n, err := FromEnv()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if n.WatchdogInterval() != tc.want {
				t.Fatalf("interval %v, want %v", n.WatchdogInterval(), tc.want)
			}
		})
	}

	t.Setenv("NOTIFY_SOCKET", env)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	n, _ := FromEnv()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.RunWatchdog(ctx, func(err error) { t.Error(err) }) }()
	// Three keep-alives: the first at once, then one per half interval.
	for range 3 {
		if got := recv(); got != "WATCHDOG=1\n" {
			t.Errorf("got %q, want WATCHDOG=1", got)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog did not return after cancel")
	}
}
