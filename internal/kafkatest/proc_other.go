//go:build !linux

package kafkatest

import "syscall"

// sysProcAttr puts a broker in its own process group (or session when
// detached). Outside Linux there is no parent-death signal: Close must run.
func sysProcAttr(detached bool) *syscall.SysProcAttr {
	if detached {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}

// canSeeStopped says procStatus can tell a stopped process from a running one.
const canSeeStopped = false

// procStatus reports whether pid is alive; stopped is unknown outside Linux.
func procStatus(pid int) (alive, stopped bool) {
	return syscall.Kill(pid, 0) == nil, false
}

// procMatches cannot inspect command lines outside Linux and trusts the pid.
func procMatches(pid int, marker string) bool { return true }
