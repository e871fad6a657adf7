//go:build unix

package main

import (
	"os"
	"syscall"

	"github.com/logship/logship/internal/checkpoint"
)

// sameFile reports whether st is the file generation e describes (device
// and inode; the fingerprint is the tailer's concern).
func sameFile(st os.FileInfo, e checkpoint.FileState) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && uint64(sys.Dev) == e.Device && uint64(sys.Ino) == e.Inode //nolint:unconvert // widths differ by platform
}
