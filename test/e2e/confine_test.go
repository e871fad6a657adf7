package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// setRescan sets the pipeline's rescan_interval (500ms by default).
func (a *agentProc) setRescan(d string) {
	a.t.Helper()
	b, err := os.ReadFile(a.ConfigPath)
	if err != nil {
		a.t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "    rescan_interval: 500ms\n", "    rescan_interval: "+d+"\n", 1)
	if err := os.WriteFile(a.ConfigPath, []byte(cfg), 0o600); err != nil {
		a.t.Fatal(err)
	}
}

// TestSymlinkFlipF35 (F35): while the agent ships a live file, symlinks
// matched by its glob are flipped with rename(2) between that file and a
// file outside the glob's directory, as fast as possible, for 25 s at a
// 10 ms rescan_interval. No byte of the outside file may reach Kafka, and
// every inside line does, exactly once.
func TestSymlinkFlipF35(t *testing.T) {
	const secret = "F35-OUTSIDE-SECRET"
	topic := newTopic(t, 2)
	dir := t.TempDir()
	w := newWriter(t, dir, 1, 60)
	w.Write(t, 0, 100)
	outside := filepath.Join(t.TempDir(), "secret.log")
	if err := os.WriteFile(outside, []byte(strings.Repeat(secret+"\n", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.setRescan("10ms")
	a.start()

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	writing := w.Run(t, ctx, 200)
	var flippers sync.WaitGroup
	flips := make([]int, 4)
	for i := range flips {
		link, tmp := filepath.Join(dir, fmt.Sprintf("flip-%d.log", i)), filepath.Join(dir, fmt.Sprintf(".flip-%d.tmp", i))
		// Exits when ctx is done.
		flippers.Go(func() {
			for ; ctx.Err() == nil; flips[i]++ {
				target := w.Paths()[0]
				if flips[i]%2 == 1 {
					target = outside
				}
				_ = os.Remove(tmp)
				if err := os.Symlink(target, tmp); err != nil {
					t.Errorf("flipper: %v", err)
					return
				}
				if err := os.Rename(tmp, link); err != nil {
					t.Errorf("flipper: %v", err)
					return
				}
			}
		})
	}
	<-ctx.Done()
	<-writing
	flippers.Wait()
	waitShipped(t, topic, w.Total(), 2*time.Minute)
	a.term(30 * time.Second)

	msgs := readAllMessages(t, topic)
	leaked := 0
	for _, m := range msgs {
		leaked += bytes.Count(m.Value, []byte(secret)) * len(secret)
	}
	tl := tallyOf(msgs)
	missing, dups, first := tl.check(w.Written())
	total := 0
	for _, n := range flips {
		total += n
	}
	t.Logf("%d flips over %d links at rescan_interval 10ms: %d inside lines written, %d records in Kafka, "+
		"outside bytes in Kafka %d, missing %d, duplicates %d", total, len(flips), w.Total(), len(msgs), leaked, missing, dups)
	if leaked != 0 {
		t.Fatalf("F35: %d bytes of the outside file reached Kafka", leaked)
	}
	if missing != 0 || dups != 0 || tl.malformed != 0 {
		t.Fatalf("C1/C2: missing %d (first %s), duplicates %d, malformed %d", missing, first, dups, tl.malformed)
	}
}
