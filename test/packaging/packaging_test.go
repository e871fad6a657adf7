// Package packaging checks the files that install and run logship outside Go:
// the systemd unit (systemd/), the container image recipe (Dockerfile,
// Makefile target image) and the Kubernetes manifests (deploy/kubernetes/).
// The tests parse the files, run the tools that judge them
// (systemd-analyze), and load the embedded agent configurations with
// internal/config, so a setting that drifts from the agent's defaults fails
// here rather than on a node.
package packaging

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/logship/logship/internal/memlimit"
)

// repoRoot returns the module root (the directory holding go.mod), found by
// walking up from the test's working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// readRepoFile returns the content of a file given relative to the repo root.
func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// peakMemory is the most the agent uses at a given agent.memory_limit,
// through an outage and the catch-up after it (memlimit.Headroom, measured
// by test/e2e TestCatchUpMemoryAfterOutage); the agent refuses to start in a
// cgroup smaller than this.
func peakMemory(memoryLimit int64) int64 { return memoryLimit + memlimit.Headroom }
