//go:build !linux

package sdnotify

// monotonicUsec is unavailable outside Linux; RELOADING=1 is sent without
// MONOTONIC_USEC (systemd runs only on Linux).
func monotonicUsec() (uint64, bool) { return 0, false }
