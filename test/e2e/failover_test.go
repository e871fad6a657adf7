package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/agentid"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/pipeline"
	"github.com/logship/logship/internal/producer"
)

// ---- helpers for a cluster other than the package's single node ----

// startCluster3 starts three KRaft nodes (RF 3, min.insync.replicas 2,
// unclean leader election off), closed when t ends. A cluster that cannot
// start fails the test.
func startCluster3(t *testing.T) *kafkatest.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := kafkatest.Start(ctx, kafkatest.Options{Nodes: 3})
	if err != nil {
		t.Fatalf("start 3-node kafka: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	t.Logf("3-node kafka up at %s in %s", c.Bootstrap(), time.Since(start).Round(time.Millisecond))
	return c
}

func createTopicOn(t *testing.T, c *kafkatest.Cluster, name string, partitions int, configs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.CreateTopic(ctx, name, partitions, 0, configs); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

func hwOn(t *testing.T, c *kafkatest.Cluster, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hw, err := c.HighWatermarks(ctx, topic)
	if err != nil {
		t.Fatalf("high watermarks of %s: %v", topic, err)
	}
	s := int64(0)
	for _, v := range hw {
		s += v
	}
	return s
}

// waitHW waits until topic's high watermarks add up to more than n.
func waitHW(t *testing.T, c *kafkatest.Cluster, topic string, n int64, timeout time.Duration, what string) {
	t.Helper()
	waitFor(t, timeout, what, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hw, err := c.HighWatermarks(ctx, topic)
		if err != nil {
			return false
		}
		s := int64(0)
		for _, v := range hw {
			s += v
		}
		return s > n
	})
}

// setKafka rewrites the agent's configuration: every node of c as
// bootstrap broker, and extra lines under kafka:.
func (a *agentProc) setKafka(t *testing.T, c *kafkatest.Cluster, extra string) {
	t.Helper()
	b, err := os.ReadFile(a.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var quoted []string
	for _, addr := range strings.Split(c.Bootstrap(), ",") {
		quoted = append(quoted, strconv.Quote(addr))
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  brokers: ") {
			lines[i] = "  brokers: [" + strings.Join(quoted, ", ") + "]"
			if extra != "" {
				lines[i] += "\n" + strings.TrimRight(indent(extra, "  "), "\n")
			}
		}
	}
	if err := os.WriteFile(a.ConfigPath, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (a *agentProc) metricOr(t *testing.T, name string) float64 {
	t.Helper()
	v, err := a.Metric(name)
	if err != nil {
		t.Fatalf("scrape %s: %v", name, err)
	}
	return v
}

// TestFailover3Nodes runs F09, F10 and F11 on one three-node cluster.
func TestFailover3Nodes(t *testing.T) {
	// Parallel: the long fault tests overlap (they mostly wait on
	// elections, outages and restarts), which keeps the suite short.
	t.Parallel()
	c := startCluster3(t)
	t.Run("F09-kill9-leader", func(t *testing.T) { leaderRounds(t, c, true) })
	t.Run("F10-bounce-leader", func(t *testing.T) { leaderRounds(t, c, false) })
	t.Run("F11-two-nodes-down-60s", func(t *testing.T) { belowMinISR(t, c) })
}

// leaderRounds (F09 hard, F10 clean): five rounds of taking down the leader
// of the partition being written while 10 files grow at 20,000 lines/s,
// each round waiting until Kafka stores new lines through the new leader,
// then restarting the node and waiting until it is back in the ISR.
// Checks C1 (0 missing), C2 (duplicates ≤ logship_records_retried_total)
// and C5 (delivery resumes after every failover without an agent restart).
func leaderRounds(t *testing.T, c *kafkatest.Cluster, hard bool) {
	const files, payload, rounds, rate = 10, 60, 5, 20_000
	topic := topicName(t)
	createTopicOn(t, c, topic, 1, nil)
	dir := t.TempDir()
	w := newWriter(t, dir, files, payload)
	a := newAgent(t, agentConfig{Topic: topic, Glob: filepath.Join(dir, "*.log"), Key: "host"})
	a.setKafka(t, c, "")
	a.start()
	var failovers, reroutes []time.Duration
	writing := time.Duration(0)
	for round := range rounds {
		ctx, stop := context.WithCancel(context.Background())
		before := w.Total()
		t0 := time.Now()
		done := w.Run(t, ctx, rate)
		hw := hwOn(t, c, topic)
		waitHW(t, c, topic, hw+5000, 2*time.Minute, "shipping under load before the fault")
		lctx, lcancel := context.WithTimeout(context.Background(), time.Minute)
		leader, err := c.Leader(lctx, topic, 0)
		lcancel()
		if err != nil {
			t.Fatal(err)
		}
		tf := time.Now()
		if hard {
			err = c.Kill(leader)
		} else {
			sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
			err = c.Stop(sctx, leader)
			scancel()
		}
		if err != nil {
			t.Fatalf("round %d: take down node %d: %v", round, leader, err)
		}
		// The cluster's part: a new leader is elected (after a kill -9 only
		// once the controller fences the dead broker, broker.session.timeout.ms).
		waitFor(t, 2*time.Minute, "a new leader", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			l, err := c.Leader(ctx, topic, 0)
			return err == nil && l != leader
		})
		elected := time.Since(tf)
		// The agent's part (C5): new lines reach Kafka through the new
		// leader while the old one is down.
		hw = hwOn(t, c, topic)
		waitHW(t, c, topic, hw+2000, 2*time.Minute, "delivery through the new leader")
		failovers = append(failovers, time.Since(tf))
		reroutes = append(reroutes, time.Since(tf)-elected)
		stop()
		<-done
		writing += time.Since(t0)
		t.Logf("round %d: node %d down, new leader after %s, 2,000 new records stored %s later; %d lines written this round",
			round, leader, elected.Round(time.Millisecond), (time.Since(tf) - elected).Round(time.Millisecond), w.Total()-before)
		rctx, rcancel := context.WithTimeout(context.Background(), 3*time.Minute)
		if err := c.Restart(rctx, leader); err != nil {
			rcancel()
			t.Fatalf("round %d: restart node %d: %v", round, leader, err)
		}
		rcancel()
		waitFor(t, 3*time.Minute, "the restarted node back in the ISR", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ps, err := c.Partitions(ctx, topic)
			return err == nil && len(ps) == 1 && len(ps[0].ISR) == 3
		})
	}
	waitHW(t, c, topic, int64(w.Total())-1, 5*time.Minute, "every line in Kafka")
	retried := a.metricOr(t, "logship_records_retried_total")
	refreshes := a.metricOr(t, "logship_metadata_refreshes_total")
	dropped := a.metricOr(t, "logship_records_dropped_total")
	a.term(30 * time.Second)
	tl := readTallyOn(t, c, topic)
	missing, dups, first := tl.check(w.Written())
	backward := backwardSteps(tl)
	t.Logf("%s: %d rounds, %d lines at %.0f lines/s while writing, %d records in Kafka, missing %d, duplicates %d, backward steps %d, retried %.0f, metadata refreshes %.0f, fault-to-delivery %s, of which new-leader-to-delivery %s",
		t.Name(), rounds, w.Total(), float64(w.Total())/writing.Seconds(), tl.messages, missing, dups, backward, retried, refreshes,
		spread(failovers), spread(reroutes))
	if missing != 0 {
		t.Fatalf("C1: %d lines missing (first %s)", missing, first)
	}
	if float64(dups) > retried {
		t.Fatalf("C2: %d duplicates but only %.0f records re-sent", dups, retried)
	}
	if backward > dups {
		t.Fatalf("C4: %d backward steps in per-file order but only %d duplicates (re-sent batches)", backward, dups)
	}
	if dropped != 0 || tl.malformed != 0 {
		t.Fatalf("C7: %.0f records dropped, %d malformed", dropped, tl.malformed)
	}
}

// spread formats min/median/max.
func spread(ds []time.Duration) string {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return "min/median/max " + r(ds[0]) + "/" + r(ds[len(ds)/2]) + "/" + r(ds[len(ds)-1])
}

// backwardSteps counts, per file, the places where the sequence number in
// Kafka's order goes down (C4). Each can only come from a re-sent batch,
// that is with a duplicate.
func backwardSteps(tl *tally) int {
	n := 0
	for _, seqs := range tl.order {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] < seqs[i-1] {
				n++
			}
		}
	}
	return n
}

// belowMinISR (F11): two of three nodes killed for 60 s while lines keep
// coming. Every 10 s the agent is frozen and its checkpoint read from disk:
// it must never cover a line Kafka lacked when the outage began (nothing can
// be committed below min ISR, and with the controller quorum gone the ISR
// cannot even shrink). Then both nodes return: delivery resumes without a
// restart, 0 missing, duplicates ≤ retried.
func belowMinISR(t *testing.T, c *kafkatest.Cluster) {
	const files, payload, rate, outage = 4, 60, 2_000, 60 * time.Second
	topic := topicName(t)
	createTopicOn(t, c, topic, 1, nil)
	dir := t.TempDir()
	w := newWriter(t, dir, files, payload)
	a := newAgent(t, agentConfig{Topic: topic, Glob: filepath.Join(dir, "*.log"), Key: "source"})
	a.setKafka(t, c, "")
	a.start()
	ctx, stop := context.WithCancel(context.Background())
	done := w.Run(t, ctx, rate)
	defer func() { stop(); <-done }()
	waitHW(t, c, topic, 5000, 2*time.Minute, "shipping before the outage")

	// Freeze the agent; once the high watermark is stable (a request sent
	// before the freeze may still be committing), Kafka's content is what
	// the checkpoint may cover for the whole outage.
	a.Signal(syscall.SIGSTOP)
	prev := int64(-1)
	waitFor(t, time.Minute, "a stable high watermark", func() bool {
		hw := hwOn(t, c, topic)
		stable := hw == prev
		prev = hw
		if !stable {
			time.Sleep(time.Second) // the interval over which "stable" is judged
		}
		return stable
	})
	before := readTallyOn(t, c, topic)
	lctx, lcancel := context.WithTimeout(context.Background(), time.Minute)
	leader, err := c.Leader(lctx, topic, 0)
	lcancel()
	if err != nil {
		t.Fatal(err)
	}
	down := []int{leader, (leader + 1) % 3}
	for _, n := range down {
		if err := c.Kill(n); err != nil {
			t.Fatal(err)
		}
	}
	a.Signal(syscall.SIGCONT)
	outageStart := time.Now()
	ackedAtStart := a.metricOr(t, "logship_records_acked_total")
	coveredAt := func() int {
		a.Signal(syscall.SIGSTOP)
		defer a.Signal(syscall.SIGCONT)
		ck := snapshotCheckpoint(t, a, w)
		written := w.Written()
		covered := 0
		for i := range files {
			n := linesCovered(lineEnds(i, written[i], payload), ck[i])
			for seq := range n {
				if before.count[[2]int{i, seq}] == 0 {
					t.Fatalf("C3: during the outage the checkpoint of file %d (offset %d) covers seq %d, which Kafka did not hold", i, ck[i], seq)
				}
			}
			covered += n
		}
		return covered
	}
	firstCovered := coveredAt()
	snapshots, lastCovered := 1, firstCovered
	for time.Since(outageStart) < outage {
		time.Sleep(min(10*time.Second, outage-time.Since(outageStart))) // the outage itself
		lastCovered = coveredAt()
		snapshots++
	}
	ackedInOutage := a.metricOr(t, "logship_records_acked_total") - ackedAtStart
	writtenInOutage := w.Total()
	if !a.Running() {
		t.Fatalf("agent exited during the outage: %v", a.ExitErr())
	}
	for _, n := range down {
		rctx, rcancel := context.WithTimeout(context.Background(), 3*time.Minute)
		err := c.Restart(rctx, n)
		rcancel()
		if err != nil {
			t.Fatalf("restart node %d: %v", n, err)
		}
	}
	back := time.Now()
	waitHW(t, c, topic, int64(before.messages), 3*time.Minute, "delivery after the nodes returned")
	resumed := time.Since(back)
	stop()
	<-done
	waitHW(t, c, topic, int64(w.Total())-1, 5*time.Minute, "every line in Kafka")
	retried := a.metricOr(t, "logship_records_retried_total")
	a.term(30 * time.Second)
	tl := readTallyOn(t, c, topic)
	missing, dups, first := tl.check(w.Written())
	t.Logf("F11: %d lines (%d by the end of the outage), Kafka held %d when 2 of 3 nodes died; %d checkpoint snapshots in %s covered %d..%d lines, all in Kafka; records acked during the outage %.0f; delivery resumed %s after the nodes were back; missing %d, duplicates %d, retried %.0f",
		w.Total(), writtenInOutage, before.messages, snapshots, outage, firstCovered, lastCovered, ackedInOutage,
		resumed.Round(time.Millisecond), missing, dups, retried)
	if missing != 0 {
		t.Fatalf("C1: %d lines missing (first %s)", missing, first)
	}
	if float64(dups) > retried {
		t.Fatalf("C2: %d duplicates but only %.0f records re-sent", dups, retried)
	}
}

// TestTopicMissingThenCreated (F29): the agent starts while its topic does
// not exist. It keeps the lines in their files, logs one error per interval
// naming the topic, and ships everything, once, after the topic is created.
func TestTopicMissingThenCreated(t *testing.T) {
	topic := topicName(t)
	dir := t.TempDir()
	w := newWriter(t, dir, 3, 80)
	for i := range 3 {
		w.Write(t, i, 2000)
	}
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.start()
	missingSince := time.Now()
	waitFor(t, time.Minute, "the agent's error naming the missing topic", func() bool {
		return len(errorLines(t, a, "topic metadata unavailable, waiting", topic)) > 0
	})
	for i := range 3 {
		w.Write(t, i, 2000)
	}
	time.Sleep(10 * time.Second) // the topic stays missing: the fault itself
	if !a.Running() {
		t.Fatalf("agent exited while the topic was missing: %v", a.ExitErr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cluster.CreateTopic(ctx, topic, 3, 1, nil); err != nil {
		t.Fatal(err)
	}
	outage := time.Since(missingSince)
	created := time.Now()
	waitShipped(t, topic, w.Total(), 2*time.Minute)
	resumed := time.Since(created)
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check(w.Written())
	errs := errorLines(t, a, "topic metadata unavailable, waiting", topic)
	t.Logf("F29: topic missing for %s: %d error lines naming it; %d lines shipped %s after it was created; missing %d, duplicates %d",
		outage.Round(time.Millisecond), len(errs), w.Total(), resumed.Round(time.Millisecond), missing, dups)
	if missing != 0 || dups != 0 {
		t.Fatalf("missing %d (first %s), duplicates %d", missing, first, dups)
	}
	// One per interval (30s) per pipeline, plus the first.
	if limit := int(outage/(30*time.Second)) + 1; len(errs) > limit {
		t.Fatalf("%d error lines in %s, want at most %d", len(errs), outage, limit)
	}
}

// errorLines returns the agent's error-level JSON log lines with message
// msg that name topic.
func errorLines(t *testing.T, a *agentProc, msg, topic string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range logLines(t, a, msg) {
		if rec["level"] == "ERROR" && rec["topic"] == topic {
			out = append(out, rec)
		}
	}
	return out
}

// logLines returns the agent's JSON log lines with message msg.
func logLines(t *testing.T, a *agentProc, msg string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(a.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(string(b), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestOversizeRecordsF30 (F30): a topic with max.message.bytes=1024 and
// lines of 512 B, 1 KiB, 10 KiB and 5 MiB, under each oversize_record
// policy. max_line_bytes is raised to 6MiB so the tailer hands the 5 MiB line
// over whole (its default, 1MiB, would cut it into parts first and the
// producer would see five 1 MiB records instead). Compression is off so
// which records fit is decided by their size alone. Checks that Kafka (and
// the dead-letter file) hold exactly what the policy says, and that the
// counters match.
func TestOversizeRecordsF30(t *testing.T) {
	sizes := []int{512, 1 << 10, 10 << 10, 5 << 20}
	for _, policy := range []string{"split", "truncate", "dead_letter"} {
		t.Run(policy, func(t *testing.T) {
			topic := topicName(t)
			createTopicOn(t, cluster, topic, 1, map[string]string{"max.message.bytes": "1024"})
			dir := t.TempDir()
			rng := rand.New(rand.NewPCG(uint64(len(policy)), 7))
			var lines [][]byte
			var file bytes.Buffer
			for i, n := range sizes {
				l := []byte(fmt.Sprintf("0 %d ", i))
				for len(l) < n {
					l = append(l, byte('a'+rng.IntN(26)))
				}
				lines = append(lines, l)
				file.Write(l)
				file.WriteByte('\n')
			}
			if err := os.WriteFile(filepath.Join(dir, "app-00.log"), file.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log"),
				Extra: "max_line_bytes: 6MiB"})
			a.setKafka(t, cluster, "compression: none\noversize_record: "+policy)
			a.start()
			waitFor(t, 5*time.Minute, "every line handled", func() bool {
				acked, err1 := a.Metric("logship_records_acked_total")
				dl, err2 := a.Metric("logship_dead_letter_records_total")
				return err1 == nil && err2 == nil && acked+dl >= float64(len(lines))
			})
			m := map[string]float64{}
			for _, name := range []string{"logship_records_acked_total", "logship_records_split_total", "logship_record_parts_total",
				"logship_records_truncated_total", "logship_dead_letter_records_total", "logship_records_dropped_total",
				"logship_dead_letter_errors_total"} {
				m[name] = a.metricOr(t, name)
			}
			a.term(30 * time.Second)
			// The limit came from the topic's configuration, not a guess.
			learned := logLines(t, a, "topic size limit learned")
			if len(learned) != 1 || learned[0]["limit_bytes"] != 1024.0 || learned[0]["exact"] != true {
				t.Fatalf("limit learned: %v, want one line with limit_bytes 1024, exact true", learned)
			}
			msgs := readAllMessages(t, topic)
			// Source headers: the agent id, the file's device:inode and
			// generation (the hash of its first line), and the line's end
			// offset.
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(dir, "app-00.log"), &st); err != nil {
				t.Fatal(err)
			}
			agentID, err := os.ReadFile(filepath.Join(a.Dir, "data", agentid.File))
			if err != nil {
				t.Fatal(err)
			}
			gen := sha256.Sum256(append(slices.Clip(lines[0]), '\n'))
			src, _ := headerValue(msgs[0], pipeline.HeaderSource)
			off, _ := headerValue(msgs[0], pipeline.HeaderOffset)
			wantSrc := fmt.Sprintf("%s:%d:%d:%x", strings.TrimSpace(string(agentID)), st.Dev, st.Ino, gen[:16])
			if src != wantSrc || off != strconv.Itoa(len(lines[0])+1) {
				t.Fatalf("first record: %s=%q %s=%q, want %q and %d", pipeline.HeaderSource, src, pipeline.HeaderOffset, off, wantSrc, len(lines[0])+1)
			}
			want := map[string]float64{"logship_records_dropped_total": 0, "logship_dead_letter_errors_total": 0,
				"logship_records_split_total": 0, "logship_records_truncated_total": 0, "logship_dead_letter_records_total": 0}
			switch policy {
			case "split":
				got := reassemble(t, msgs)
				if len(got) != len(lines) {
					t.Fatalf("Kafka holds %d reassembled lines, want %d", len(got), len(lines))
				}
				for i := range lines {
					if !bytes.Equal(got[i], lines[i]) {
						t.Fatalf("line %d (%d B): reassembled %d B differ", i, len(lines[i]), len(got[i]))
					}
				}
				want["logship_records_acked_total"] = 4
				want["logship_records_split_total"] = 3
				want["logship_record_parts_total"] = float64(len(msgs) - 1)
			case "truncate":
				if len(msgs) != len(lines) {
					t.Fatalf("Kafka holds %d records, want %d", len(msgs), len(lines))
				}
				for i, msg := range msgs {
					orig, marked := headerValue(msg, producer.HeaderTruncated)
					switch {
					case i == 0 && (marked || !bytes.Equal(msg.Value, lines[0])):
						t.Fatalf("the 512 B line was altered")
					case i > 0 && (orig != strconv.Itoa(len(lines[i])) || !bytes.HasPrefix(lines[i], msg.Value) || len(msg.Value) == 0):
						t.Fatalf("line %d: header %q, %d B kept, prefix %v", i, orig, len(msg.Value), bytes.HasPrefix(lines[i], msg.Value))
					}
				}
				want["logship_records_acked_total"] = 4
				want["logship_records_truncated_total"] = 3
			case "dead_letter":
				if len(msgs) != 1 || !bytes.Equal(msgs[0].Value, lines[0]) {
					t.Fatalf("Kafka holds %d records, want only the 512 B line", len(msgs))
				}
				entries := readDeadLetter(t, filepath.Join(a.Dir, "data", "dead-letter", producer.DeadLetterFile))
				if len(entries) != 3 {
					t.Fatalf("dead-letter file holds %d entries, want 3", len(entries))
				}
				for i, e := range entries {
					if e.Topic != topic || e.Reason != "too_large" || !bytes.Equal(e.Value, lines[i+1]) {
						t.Fatalf("dead-letter entry %d: topic %q reason %q, %d B, equal %v", i, e.Topic, e.Reason, len(e.Value), bytes.Equal(e.Value, lines[i+1]))
					}
				}
				want["logship_records_acked_total"] = 1
				want["logship_dead_letter_records_total"] = 3
			}
			for name, v := range want {
				if m[name] != v {
					t.Fatalf("%s = %.0f, want %.0f (all: %v)", name, m[name], v, m)
				}
			}
			t.Logf("F30 %s: %d records in Kafka for lines of %v B; counters %v", policy, len(msgs), sizes, m)
		})
	}
}

func headerValue(m kafkatest.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// reassemble rebuilds lines from records in offset order: a record without
// logship.part is a line; a run of parts "1/n".."n/n" with the same
// logship.offset is one line (a run restarted at "1/n" replaces the
// unfinished one).
func reassemble(t *testing.T, msgs []kafkatest.Message) [][]byte {
	t.Helper()
	var out [][]byte
	var cur []byte
	curOff := ""
	for _, m := range msgs {
		part, ok := headerValue(m, producer.HeaderPart)
		off, _ := headerValue(m, pipeline.HeaderOffset)
		if !ok {
			out = append(out, m.Value)
			continue
		}
		idx, n, _ := strings.Cut(part, "/")
		if idx == "1" || off != curOff {
			cur, curOff = nil, off
		}
		cur = append(cur, m.Value...)
		if idx == n {
			out = append(out, cur)
			cur = nil
		}
	}
	return out
}

func readDeadLetter(t *testing.T, path string) []producer.DeadLetterEntry {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("dead-letter file mode %v, want 0600", st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []producer.DeadLetterEntry
	for _, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		var e producer.DeadLetterEntry
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("dead-letter line: %v", err)
		}
		out = append(out, e)
	}
	return out
}
