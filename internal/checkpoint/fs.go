package checkpoint

import (
	"errors"
	"io"
	"io/fs"
	"os"
)

// fileSystem is the set of filesystem operations the Store uses. Production
// code uses osFS; tests inject faults (ENOSPC, fsync errors) and simulated
// crashes at every step of a write.
type fileSystem interface {
	MkdirAll(path string, perm fs.FileMode) error
	Mkdir(path string, perm fs.FileMode) error
	// Lstat describes path itself, not what a symlink points to.
	Lstat(path string) (fs.FileInfo, error)
	// ReadFile reads at most limit bytes; a longer file yields errTooLarge.
	ReadFile(path string, limit int64) ([]byte, error)
	// CreateTemp creates a new file with mode 0600 in dir (see os.CreateTemp).
	CreateTemp(dir, pattern string) (tempFile, error)
	Rename(oldpath, newpath string) error
	Remove(path string) error
	ReadDirNames(dir string) ([]string, error)
	// SyncDir makes the directory's entries (creations, renames) durable.
	SyncDir(dir string) error
}

// tempFile is the writable side of a file made by CreateTemp.
type tempFile interface {
	Name() string
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

var errTooLarge = errors.New("file too large")

// osFS is the real filesystem.
type osFS struct{}

func (osFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) Mkdir(path string, perm fs.FileMode) error    { return os.Mkdir(path, perm) }
func (osFS) Lstat(path string) (fs.FileInfo, error)       { return os.Lstat(path) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) Remove(path string) error                     { return os.Remove(path) }

func (osFS) CreateTemp(dir, pattern string) (tempFile, error) {
	return os.CreateTemp(dir, pattern) // mode 0600
}

func (osFS) ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Check the size first so a hostile file is never read into memory.
	if fi, err := f.Stat(); err == nil && fi.Size() > limit {
		return nil, errTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

func (osFS) ReadDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
