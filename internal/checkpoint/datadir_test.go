package checkpoint

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openLogged opens dir as the checkpoint directory and returns what was
// logged while doing so.
func openLogged(t *testing.T, dir string) (*Store, string, error) {
	t.Helper()
	var logs bytes.Buffer
	s, err := Open(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	return s, logs.String(), err
}

// discard is a logger for tests that do not look at logs.
var discard = slog.New(slog.DiscardHandler)

// F38: a data_dir that is a symlink, shared, world-writable or owned by
// another user is refused or warned about, never chmod'ed silently.
func TestOpenDataDirSafety(t *testing.T) {
	t.Run("symlink refused, target untouched", func(t *testing.T) {
		base := t.TempDir()
		target := filepath.Join(base, "target")
		mkdirMode(t, target, 0o755)
		link := filepath.Join(base, "link")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		_, _, err := openLogged(t, link)
		if !errors.Is(err, ErrInsecureDir) || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("Open(symlink) = %v, want ErrInsecureDir naming the symlink", err)
		}
		assertMode(t, target, 0o755)
	})
	t.Run("world-writable sticky refused, untouched", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "shared")
		mkdirMode(t, dir, 0o777|fs.ModeSticky)
		_, _, err := openLogged(t, dir)
		if !errors.Is(err, ErrInsecureDir) || !strings.Contains(err.Error(), "world-writable") {
			t.Errorf("Open(1777 dir) = %v, want ErrInsecureDir saying world-writable", err)
		}
		assertMode(t, dir, 0o777)
	})
	t.Run("other owner refused", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a directory to another user")
		}
		dir := filepath.Join(t.TempDir(), "theirs")
		mkdirMode(t, dir, 0o700)
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		_, _, err := openLogged(t, dir)
		if !errors.Is(err, ErrInsecureDir) || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("Open(other user's dir) = %v, want ErrInsecureDir naming the owner", err)
		}
	})
	t.Run("looser kept and warned", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "loose")
		mkdirMode(t, dir, 0o750)
		_, logs, err := openLogged(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		assertMode(t, dir, 0o750)
		if !strings.Contains(logs, "checkpoint directory is accessible to group or others") || !strings.Contains(logs, "mode=-rwxr-x---") {
			t.Errorf("no warning for a 0750 data_dir; logged:\n%s", logs)
		}
	})
	t.Run("missing created 0700 under 0755 parents", func(t *testing.T) {
		base := t.TempDir()
		dir := filepath.Join(base, "a", "b", "logship")
		_, logs, err := openLogged(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		assertMode(t, dir, 0o700)
		assertMode(t, filepath.Join(base, "a"), 0o755)
		assertMode(t, filepath.Join(base, "a", "b"), 0o755)
		if logs != "" {
			t.Errorf("logged for a fresh directory:\n%s", logs)
		}
	})
}

// mkdirMode creates dir with exactly mode (no umask).
func mkdirMode(t *testing.T, dir string, mode fs.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}
