package soak

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSoak is CI's short soak (F39): four minutes of a fresh random
// schedule on one broker, against the plain (non-race) binary so the agent
// runs at its real speed. The seed is printed first; a failure prints the
// schedule and keeps the work dir for `make soak SEED=… DURATION=4m`.
func TestSoak(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	const duration = 4 * time.Minute
	t.Logf("soak seed %d (replay: make soak SEED=%d DURATION=%s)", seed, seed, duration)
	bin := filepath.Join(t.TempDir(), "logship")
	build := exec.Command("go", "build", "-o", bin, "github.com/logship/logship/cmd/agent")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build agent: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{Seed: seed, Duration: duration, Nodes: 1, Bin: bin, Log: testLog{t}})
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	t.Log(res.Summary())
	for _, n := range res.Notes {
		t.Log("note: " + n)
	}
	if len(res.Failures) > 0 {
		for _, e := range res.Schedule.Events {
			t.Log("schedule: " + e.String())
		}
		t.Fatalf("seed %d failed (work dir %s): %v", seed, res.WorkDir, res.Failures)
	}
}

// testLog sends the soak's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(p[:len(p)-min(len(p), 1)]))
	return len(p), nil
}
