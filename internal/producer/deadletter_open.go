package producer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// open opens the dead-letter file for reading and appending, creating d.dir
// (0700) and the file (0600) when missing; each creation is made durable by
// fsyncing its parent directory before the file is used. It never follows a
// symlink, for the directory (Lstat) nor for the file (O_NOFOLLOW); it
// refuses a directory writable by group or others, where another user could
// swap the file, and anything at the path but a regular file (opened without
// blocking, so a FIFO fails rather than hangs). An existing file readable or
// writable by others is used as it is, and logged once: its mode is the
// operator's call. Called with d.mu held.
func (d *deadLetter) open() (deadLetterFile, string, error) {
	if _, err := os.Lstat(d.dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(d.dir, 0o700); err != nil {
			return nil, "", fmt.Errorf("producer: dead-letter dir: %w", err)
		}
		if err := d.sync(filepath.Dir(d.dir)); err != nil {
			return nil, "", fmt.Errorf("producer: sync the parent of %s: %w", d.dir, err)
		}
	}
	fi, err := os.Lstat(d.dir)
	switch {
	case err != nil:
		return nil, "", fmt.Errorf("producer: dead-letter dir: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, "", fmt.Errorf("producer: dead-letter dir %s is a symlink; configure the directory it points to", d.dir)
	case !fi.IsDir():
		return nil, "", fmt.Errorf("producer: dead-letter dir %s is not a directory", d.dir)
	case fi.Mode().Perm()&0o022 != 0:
		return nil, "", fmt.Errorf("producer: dead-letter dir %s is writable by group or others (mode %v)", d.dir, fi.Mode())
	}
	path := filepath.Join(d.dir, DeadLetterFile)
	const flags = os.O_RDWR | os.O_APPEND | oNoFollow | syscall.O_NONBLOCK
	f, err := d.openPath(path, flags, 0)
	if errors.Is(err, os.ErrNotExist) {
		f, err = d.openPath(path, flags|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			if serr := d.sync(d.dir); serr != nil {
				f.Close()
				return nil, "", fmt.Errorf("producer: sync %s: %w", d.dir, serr)
			}
		}
	}
	if errors.Is(err, syscall.ELOOP) {
		return nil, "", fmt.Errorf("producer: open dead-letter file: %s is a symlink", path)
	}
	if err != nil {
		return nil, "", fmt.Errorf("producer: open dead-letter file: %w", err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (mode %v)", st.Mode())
	}
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("producer: open dead-letter file %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && !d.warnedMode && d.log != nil {
		d.warnedMode = true
		d.log.Warn("dead-letter file is accessible to group or others", "path", path, "mode", perm)
	}
	return f, path, nil
}

// openPath is d.openFile, or os.OpenFile when d has no test seam.
func (d *deadLetter) openPath(name string, flag int, perm os.FileMode) (deadLetterFile, error) {
	if d.openFile != nil {
		return d.openFile(name, flag, perm)
	}
	return openDeadLetterFile(name, flag, perm)
}

// sync is d.syncDir, or syncDirectory when d has no test seam.
func (d *deadLetter) sync(dir string) error {
	if d.syncDir != nil {
		return d.syncDir(dir)
	}
	return syncDirectory(dir)
}
