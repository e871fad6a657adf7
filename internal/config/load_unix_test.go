//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// #11 item 18: a configuration file that is huge, a FIFO or a device gives
// a clear error at once, never an exhausted memory or a hang.
func TestLoadRefusesNonRegularAndHugeFiles(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.yaml")
	valid := doc("", "", "")
	pad := strings.Repeat("# padding\n", (1<<20)/10+1)
	if err := os.WriteFile(huge, []byte(valid+pad), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"larger than 1 MiB", huge, "larger than 1048576 bytes"},
		{"fifo", fifo, "not a regular file"},
		{"device", "/dev/zero", "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Load(tc.path); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
					t.Errorf("Load(%s) = %v, want an error naming the file and saying %q", tc.path, err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("Load(%s) still running after 5s", tc.path)
			}
		})
	}
}
