//go:build unix

package tailer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// openatFlags opens a file for reading without ever blocking (a FIFO or
// device swapped in is opened non-blocking, then refused by its fstat),
// without acquiring a controlling terminal, and without following a final
// symlink (the walk follows it itself).
const openatFlags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC | unix.O_NOFOLLOW

// noOpenat2 is set once openat2 turned out to be unavailable (old kernel,
// seccomp filter); every later resolution walks.
var noOpenat2 atomic.Bool

// open resolves path beneath the roots and opens it for reading. Errors wrap
// errOutside for a path leading outside the roots, the errno otherwise
// (fs.ErrNotExist, EACCES, EMFILE, ELOOP, ...). The caller checks the kind
// and identity of what was opened with fstat.
func (c *confiner) open(path string) (*os.File, error) {
	var fd int
	err := c.resolve(path, func(dirfd int, name string) error {
		var err error
		fd, err = unix.Openat(dirfd, name, openatFlags, 0)
		return err
	}, func(rootfd int, rel string) (bool, error) {
		var err error
		fd, err = openat2(rootfd, rel, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC)
		return err == nil, err
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// stat resolves path beneath the roots and returns the identity and kind of
// what it names without opening it for reading (a device or FIFO is never
// opened). Errors are those of open.
func (c *confiner) stat(path string) (fileInfo, error) {
	var st unix.Stat_t
	err := c.resolve(path, func(dirfd int, name string) error {
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return unix.ELOOP // a symlink: the walk follows it
		}
		return nil
	}, func(rootfd int, rel string) (bool, error) {
		fd, err := openat2(rootfd, rel, pathOnly)
		if err != nil {
			return false, err
		}
		defer unix.Close(fd)
		return true, unix.Fstat(fd, &st)
	})
	if err != nil {
		return fileInfo{}, err
	}
	return fileInfo{
		key:     fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}, //nolint:unconvert // widths differ by platform
		size:    st.Size,
		regular: st.Mode&unix.S_IFMT == unix.S_IFREG,
		nlink:   uint64(st.Nlink), //nolint:unconvert // widths differ by platform
	}, nil
}

// resolve finds path beneath the roots and calls final on its last
// component, relative to a descriptor of the directory holding it. final
// must not follow a symlink: it returns ELOOP (or EMLINK) for one, and
// resolve then reads the link and goes on from its target. fast, tried
// first from the root's descriptor, is the openat2 shortcut; it reports
// whether it did the work, and its EXDEV (a symlink leaving the root or an
// absolute one) or ENOSYS falls back to the walk.
func (c *confiner) resolve(path string, final func(dirfd int, name string) error,
	fast func(rootfd int, rel string) (bool, error)) error {
	p := filepath.Clean(path)
	tryFast := !noOpenat2.Load()
	for hops := 0; ; hops++ {
		if hops > maxSymlinkHops {
			return &fs.PathError{Op: "resolve", Path: path, Err: unix.ELOOP}
		}
		root, rel, ok := c.within(p)
		if !ok {
			root, rel, ok = c.withinResolved(p)
		}
		if !ok {
			return fmt.Errorf("resolve %s: %w", path, errOutside)
		}
		rootfd, err := unix.Open(root, dirFlags, 0)
		if err != nil {
			return &fs.PathError{Op: "open root", Path: root, Err: err}
		}
		if tryFast {
			tryFast = false
			done, err := fast(rootfd, rel)
			switch {
			case done:
				unix.Close(rootfd)
				return nil
			case errors.Is(err, errNoOpenat2):
				noOpenat2.Store(true)
			case !errors.Is(err, unix.EXDEV):
				unix.Close(rootfd)
				return &fs.PathError{Op: "open", Path: path, Err: err}
			}
		}
		next, err := walk(rootfd, root, rel, final)
		if err != nil {
			return &fs.PathError{Op: "open", Path: path, Err: err}
		}
		if next == "" {
			return nil
		}
		p = next
	}
}

// walk resolves rel beneath the directory rootfd (at path root, which it
// closes) one component at a time with O_NOFOLLOW. At the first symlink it
// stops and returns the clean absolute path the link and the components
// after it stand for; otherwise it calls final on the last component and
// returns "".
func walk(rootfd int, root, rel string, final func(dirfd int, name string) error) (next string, err error) {
	fd, dir := rootfd, root
	defer func() { unix.Close(fd) }()
	comps := strings.Split(rel, "/")
	for i, comp := range comps {
		if i == len(comps)-1 {
			err := final(fd, comp)
			if !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.EMLINK) {
				return "", err
			}
			link, lerr := readlinkat(fd, comp)
			if lerr != nil {
				return "", err
			}
			return symlinkTarget(dir, link, nil), nil
		}
		nfd, err := unix.Openat(fd, comp, dirFlags|unix.O_NOFOLLOW, 0)
		if err != nil {
			link, lerr := readlinkat(fd, comp)
			if lerr != nil {
				return "", err
			}
			return symlinkTarget(dir, link, comps[i+1:]), nil
		}
		unix.Close(fd)
		fd, dir = nfd, filepath.Join(dir, comp)
	}
	return "", nil
}

// readlinkat reads the symlink name in dirfd.
func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", unix.ENAMETOOLONG
}
