//go:build linux

package kafkatest

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr puts a broker in its own process group. An attached broker also
// gets SIGKILL when the process that started it dies, so brokers never outlive
// a test binary; a detached one (the CLI) gets a session of its own instead.
func sysProcAttr(detached bool) *syscall.SysProcAttr {
	if detached {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// canSeeStopped says procStatus can tell a stopped process from a running one.
const canSeeStopped = true

// procStatus reports whether pid is alive (zombies count as dead) and whether
// it is stopped by a signal.
func procStatus(pid int) (alive, stopped bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false, false
	}
	// The state follows the last ')' (the command name may contain one).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false, false
	}
	switch b[i+2] {
	case 'Z', 'X', 'x':
		return false, false
	case 'T', 't':
		return true, true
	default:
		return true, false
	}
}

// procMatches reports whether pid's command line contains marker, which
// guards against signalling a recycled pid.
func procMatches(pid int, marker string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte(marker))
}
