// Package sdnotify speaks the systemd service notification protocol
// (sd_notify(3)) without a dependency: newline-separated KEY=VALUE
// assignments sent as one datagram to the unix socket named by
// $NOTIFY_SOCKET. Names starting with "@" are abstract sockets. When
// NOTIFY_SOCKET is unset every method is a no-op, so callers need no special
// case outside systemd.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notifier sends states to the service manager. Its methods are safe for
// concurrent use; each call dials, sends one datagram and closes.
type Notifier struct {
	socket   string        // "" disables
	watchdog time.Duration // WATCHDOG_USEC, 0 when the watchdog is off or not for this process
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET and $WATCHDOG_USEC. The
// watchdog applies only when $WATCHDOG_PID is unset or equals this process
// id. An unparsable WATCHDOG_USEC disables the watchdog; the error says why.
func FromEnv() (*Notifier, error) {
	n := &Notifier{socket: os.Getenv("NOTIFY_SOCKET")}
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" || n.socket == "" {
		return n, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return n, nil
	}
	v, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || v == 0 {
		return n, fmt.Errorf("sdnotify: WATCHDOG_USEC %q: want a positive integer; watchdog disabled", usec)
	}
	n.watchdog = time.Duration(v) * time.Microsecond
	return n, nil
}

// Enabled reports whether a notification socket is configured.
func (n *Notifier) Enabled() bool { return n.socket != "" }

// Notify sends the given assignments ("READY=1", "STATUS=...") in one
// datagram. It returns nil without doing anything when disabled; an error
// means the service manager did not get the message.
func (n *Notifier) Notify(assignments ...string) error {
	if n.socket == "" {
		return nil
	}
	name := n.socket
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: dial %s: %w", n.socket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(assignments, "\n") + "\n")); err != nil {
		return fmt.Errorf("sdnotify: send to %s: %w", n.socket, err)
	}
	return nil
}

// Ready tells the service manager that start-up (or a reload) finished.
func (n *Notifier) Ready() error { return n.Notify("READY=1") }

// Stopping tells the service manager that shutdown began.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// Reloading tells the service manager that a configuration reload began;
// Ready must follow when it is done, whatever its outcome. MONOTONIC_USEC is
// CLOCK_MONOTONIC as sd_notify(3) requires for Type=notify-reload.
func (n *Notifier) Reloading() error {
	if usec, ok := monotonicUsec(); ok {
		return n.Notify("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatUint(usec, 10))
	}
	return n.Notify("RELOADING=1")
}

// WatchdogInterval is the watchdog timeout the service manager expects
// keep-alives within, or 0 when the watchdog is off.
func (n *Notifier) WatchdogInterval() time.Duration { return n.watchdog }

// RunWatchdog sends WATCHDOG=1 every half watchdog interval until ctx is
// done, then returns nil. It returns at once when the watchdog is off. A
// failed send is reported to onError (may be nil) and retried on the next
// tick. It runs on the caller's goroutine.
func (n *Notifier) RunWatchdog(ctx context.Context, onError func(error)) error {
	if n.watchdog <= 0 {
		return nil
	}
	tick := time.NewTicker(n.watchdog / 2)
	defer tick.Stop()
	for {
		if err := n.Notify("WATCHDOG=1"); err != nil && onError != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
