package tailer

import (
	"errors"

	"golang.org/x/sys/unix"
)

// dirFlags opens a directory of a path being resolved: O_PATH needs search
// permission only, like the kernel's own lookup.
const dirFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC

// pathOnly resolves to a descriptor that cannot read (a device or FIFO is
// not opened), for fstat.
const pathOnly = unix.O_PATH | unix.O_CLOEXEC

// errNoOpenat2 reports that openat2 is unavailable.
var errNoOpenat2 = errors.New("openat2 unavailable")

// openat2 opens rel beneath rootfd with the kernel's own confinement: no
// "..", absolute path or symlink may lead out of rootfd (EXDEV), no magic
// link (/proc/self/fd/N) is followed. It returns errNoOpenat2 when the
// kernel (before 5.6) or a seccomp filter does not offer the call.
func openat2(rootfd int, rel string, flags int) (int, error) {
	fd, err := unix.Openat2(rootfd, rel, &unix.OpenHow{
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		return -1, errNoOpenat2
	}
	return fd, err
}
