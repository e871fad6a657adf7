//go:build unix

package tailer

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// toFileInfo extracts device, inode, size and kind from a stat result.
func toFileInfo(fi fs.FileInfo) (fileInfo, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileInfo{}, fmt.Errorf("stat %s: no device/inode information", fi.Name())
	}
	return fileInfo{
		key:     fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}, //nolint:unconvert // widths differ by platform
		size:    fi.Size(),
		regular: fi.Mode().IsRegular(),
		nlink:   uint64(st.Nlink), //nolint:unconvert // widths differ by platform
	}, nil
}

// fdLimit is the soft RLIMIT_NOFILE of the process, or 0 when unknown.
func fdLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}

// tooManyFiles reports the process or system descriptor limit.
func tooManyFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
