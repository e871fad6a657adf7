package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// F38: an unsafe data_dir is a configuration error (exit 2) that names the
// problem, and the directory is left as it was.
func TestRunRefusesUnsafeDataDir(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	shared := sharedDir(t, base, 0o777|os.ModeSticky)
	cfg := filepath.Join(base, "agent.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `agent:
  data_dir: %q
kafka:
  brokers: ["127.0.0.1:1"]
pipelines:
  - name: app
    paths: [%q]
    topic: logs.app
`, shared, filepath.Join(base, "*.log")), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"run", "-config", cfg}, &out, &errb); code != exitUsage {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, errb.String())
	}
	if !strings.Contains(errb.String(), "world-writable") {
		t.Errorf("stderr does not say why:\n%s", errb.String())
	}
	if fi, err := os.Stat(shared); err != nil || fi.Mode().Perm() != 0o777 {
		t.Errorf("data_dir mode after run: %v %v, want 0777 untouched", fi.Mode(), err)
	}
}

// sharedDir creates base/shared with mode (chmod, past the umask): a
// data_dir others can write to, which run refuses.
func sharedDir(t *testing.T, base string, mode os.FileMode) string {
	t.Helper()
	dir := filepath.Join(base, "shared")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}
