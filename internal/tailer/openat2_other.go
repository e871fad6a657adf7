//go:build unix && !linux

package tailer

import (
	"errors"

	"golang.org/x/sys/unix"
)

// dirFlags opens a directory of a path being resolved.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC

// pathOnly is unused without openat2.
const pathOnly = 0

// errNoOpenat2 reports that openat2 is unavailable: always, here.
var errNoOpenat2 = errors.New("openat2 unavailable")

// openat2 does not exist on this platform: resolution always walks.
func openat2(int, string, int) (int, error) { return -1, errNoOpenat2 }
