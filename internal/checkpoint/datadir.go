package checkpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// prepareDir makes dir usable as the checkpoint directory without ever
// changing an existing directory: the agent often runs as root, and a
// chmod of a shared directory (/tmp, /var/lib) or of a symlink's target
// would change what others rely on. A missing dir is created 0700, its
// missing parents 0755. An existing dir must be a directory itself (not a
// symlink), not world-writable and owned by the effective user; otherwise
// the error wraps ErrInsecureDir. It returns dir's permission bits, which
// may be looser than 0700 (Open warns about that).
func prepareDir(fsys fileSystem, dir string) (fs.FileMode, error) {
	fi, err := fsys.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := fsys.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return 0, err
		}
		if err := fsys.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return 0, err
		}
		fi, err = fsys.Lstat(dir)
	}
	if err != nil {
		return 0, err
	}
	perm := fi.Mode().Perm()
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return 0, fmt.Errorf("%w: it is a symlink; set agent.data_dir to the real directory", ErrInsecureDir)
	case !fi.IsDir():
		return 0, errors.New("not a directory")
	case perm&0o002 != 0:
		return 0, fmt.Errorf("%w: it is world-writable (mode %v); give the agent a directory of its own, such as /var/lib/logship", ErrInsecureDir, fi.Mode())
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		return 0, fmt.Errorf("%w: it is owned by uid %d, not by the agent's user (uid %d)", ErrInsecureDir, uid, os.Geteuid())
	}
	return perm, nil
}
