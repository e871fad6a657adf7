package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTopicDeletedOthersFlow (F34): pipeline gone writes to a topic with 3
// partitions over 20 files, pipeline other to its own topic, under a 2 MiB
// budget. The first topic is deleted mid-run and a burst larger than the
// whole budget is written to its files: its records can never be
// acknowledged, yet the other pipeline keeps shipping (each pipeline reads
// within its share of the budget), /readyz and `logship status` name the
// deleted topic, and once it is recreated — with 1 partition, so records
// queued for partitions 1 and 2 must move — every line written after the
// deletion is in it exactly once; nothing of the other pipeline is missing
// or duplicated, and the budget is back to 0.
func TestTopicDeletedOthersFlow(t *testing.T) {
	const goneFiles, burst = 20, 1500
	root := t.TempDir()
	dirs := map[string]string{}
	for _, d := range []string{"gone", "other"} {
		dirs[d] = filepath.Join(root, d)
		if err := os.Mkdir(dirs[d], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	gone, other := newTopic(t, 3), newTopic(t, 1)
	wGone := newWriter(t, dirs["gone"], goneFiles, 80)
	wOther := newWriter(t, dirs["other"], 2, 80)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: other, Glob: filepath.Join(dirs["other"], "*.log")})
	cfg := fmt.Sprintf(`agent:
  host: test-host
  data_dir: %s
  memory_limit: 2MiB
  shutdown_timeout: 20s
  checkpoint_interval: 200ms
  log_level: debug
http:
  listen: %q
  ready_stall: 2s
kafka:
  brokers: [%q]
  linger: 5ms
  request_timeout: 10s
  retry_backoff_max: 1s
pipelines:
  - name: gone
    topic: %s
    key: source
    rescan_interval: 200ms
    paths: [%q]
  - name: other
    topic: %s
    key: source
    rescan_interval: 200ms
    paths: [%q]
`, filepath.Join(a.Dir, "data"), a.HTTP, cluster.Bootstrap(), gone, filepath.Join(dirs["gone"], "*.log"),
		other, filepath.Join(dirs["other"], "*.log"))
	if err := os.WriteFile(a.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range goneFiles {
		wGone.Write(t, i, 50)
	}
	a.start()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	doneOther := wOther.Run(t, ctx, 500)
	waitShipped(t, gone, wGone.Total(), time.Minute)

	// Everything written so far is in the old topic and checkpointed;
	// what follows must reach the recreated one.
	mark := wGone.Written()
	dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cluster.DeleteTopic(dctx, gone); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	for i := range goneFiles {
		wGone.Write(t, i, burst) // ~6 MB of budget in all (128 B per line on top): more than the whole 2 MiB
	}

	// The other pipeline keeps flowing while the topic is gone.
	before := hw(t, other)
	waitShipped(t, other, int(before)+1000, 30*time.Second)
	flowed := time.Since(deleted)
	var body string
	waitFor(t, 30*time.Second, "/readyz to name the deleted topic", func() bool {
		body = readyzBody(t, a) // "not ready: ..." comes with 503 only
		return strings.HasPrefix(body, "not ready:") && strings.Contains(body, gone)
	})
	statusOut := a.status(t)
	if !strings.Contains(statusOut, gone) || !strings.Contains(statusOut, "NOT READY") {
		t.Errorf("status during the outage does not name topic %s:\n%s", gone, statusOut)
	}
	t.Logf("topic deleted: other pipeline shipped 1000 lines %s after; /readyz: %s", flowed.Round(time.Millisecond), body)

	// Back, with fewer partitions.
	if err := cluster.CreateTopic(dctx, gone, 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	after := 0
	for i, n := range wGone.Written() {
		after += n - mark[i]
	}
	waitShipped(t, gone, after, 2*time.Minute)
	stop()
	<-doneOther
	waitShipped(t, other, wOther.Total(), time.Minute)
	waitFor(t, 30*time.Second, "logship_inflight_bytes back to 0", func() bool {
		v, err := a.Metric("logship_inflight_bytes")
		return err == nil && v == 0
	})
	waitFor(t, 30*time.Second, "/readyz ready again", func() bool { return a.Readyz() == http.StatusOK })
	a.term(30 * time.Second)

	missing, dups, first := readTally(t, other).check(wOther.Written())
	t.Logf("other: %d lines written, missing %d, duplicates %d", wOther.Total(), missing, dups)
	if missing != 0 || dups != 0 {
		t.Errorf("other pipeline: missing %d (first %s), duplicates %d", missing, first, dups)
	}
	tl := readTally(t, gone)
	written := wGone.Written()
	goneMissing, goneDups, early := 0, 0, 0
	for i := range goneFiles {
		for seq := range written[i] {
			c := tl.count[[2]int{i, seq}]
			switch {
			case seq < mark[i]:
				early += c // acknowledged by the deleted topic: never sent again
			case c == 0:
				goneMissing++
			default:
				goneDups += c - 1
			}
		}
	}
	t.Logf("gone: %d lines written after the deletion, in the recreated topic: missing %d, duplicates %d, sent again %d",
		after, goneMissing, goneDups, early)
	if goneMissing != 0 || goneDups != 0 || early != 0 || tl.malformed != 0 {
		t.Errorf("recreated topic: missing %d, duplicates %d, lines from before the deletion %d, malformed %d",
			goneMissing, goneDups, early, tl.malformed)
	}
}
