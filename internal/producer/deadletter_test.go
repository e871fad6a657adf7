package producer

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeDeadLetter appends one small entry through d.
func writeDeadLetter(d *deadLetter) error {
	return d.write(topicPartition{topic: "t"}, &Record{Key: []byte("k"), Value: []byte("v")}, "too_large", nil)
}

// #11 item 16: the dead-letter file never follows a symlink and never lands
// in a directory others can write to.
func TestDeadLetterRefusesUnsafePaths(t *testing.T) {
	t.Run("symlinked file", func(t *testing.T) {
		base := t.TempDir()
		dir := filepath.Join(base, "dl")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		victim := filepath.Join(base, "victim")
		if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, filepath.Join(dir, DeadLetterFile)); err != nil {
			t.Fatal(err)
		}
		err := writeDeadLetter(&deadLetter{dir: dir, max: 1 << 20})
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("write through a symlinked file = %v, want an error naming the symlink", err)
		}
		if data, _ := os.ReadFile(victim); string(data) != "precious\n" {
			t.Errorf("the symlink's target was written: %q", data)
		}
	})
	t.Run("symlinked directory", func(t *testing.T) {
		base := t.TempDir()
		real := filepath.Join(base, "real")
		if err := os.Mkdir(real, 0o700); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(base, "dl")
		if err := os.Symlink(real, dir); err != nil {
			t.Fatal(err)
		}
		err := writeDeadLetter(&deadLetter{dir: dir, max: 1 << 20})
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("write into a symlinked directory = %v, want an error naming the symlink", err)
		}
		if _, err := os.Stat(filepath.Join(real, DeadLetterFile)); err == nil {
			t.Error("the file was created through the symlink")
		}
	})
	for _, mode := range []os.FileMode{0o770, 0o777 | os.ModeSticky} {
		t.Run("writable by others "+mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "dl")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			err := writeDeadLetter(&deadLetter{dir: dir, max: 1 << 20})
			if err == nil || !strings.Contains(err.Error(), "writable by group or others") {
				t.Errorf("write into a %v directory = %v, want a refusal", mode, err)
			}
			if _, err := os.Stat(filepath.Join(dir, DeadLetterFile)); err == nil {
				t.Error("the file was created")
			}
		})
	}
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		if err := mkfifo(filepath.Join(dir, DeadLetterFile)); err != nil {
			t.Skip(err)
		}
		done := make(chan error, 1)
		go func() { done <- writeDeadLetter(&deadLetter{dir: dir, max: 1 << 20}) }()
		select {
		case err := <-done:
			if err == nil {
				t.Error("write to a FIFO succeeded")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("write to a FIFO still blocked after 5s")
		}
	})
}

// #11 item 16: an existing file looser than 0600 is used as it is and
// logged once; a new one is 0600 (TestOversizeDeadLetter).
func TestDeadLetterWarnsAboutLooseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DeadLetterFile)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	d := &deadLetter{dir: dir, max: 1 << 20, log: slog.New(slog.NewTextHandler(&logs, nil))}
	for range 2 {
		if err := writeDeadLetter(d); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode after writes: %v %v, want 0644 unchanged", st.Mode(), err)
	}
	if n := strings.Count(logs.String(), "dead-letter file is accessible to group or others"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}
