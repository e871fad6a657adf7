package e2e

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/segmentio/kafka-go"
)

// TestShipFilesKeyedAndPartitioned: 10 files × 50,000 numbered lines, every
// line present exactly once, keyed by source, on the partition the Java
// client would choose for that key (checked with kafka-go's Murmur2Balancer,
// an implementation independent of logship's).
func TestShipFilesKeyedAndPartitioned(t *testing.T) {
	const files, perFile, partitions = 10, 50_000, 6
	topic := newTopic(t, partitions)
	dir := t.TempDir()
	w := newWriter(t, dir, files, 100)
	for i := range files {
		for range perFile / 5000 {
			w.Write(t, i, 5000)
		}
	}
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log"), Key: "source"})
	a.start()
	waitShipped(t, topic, files*perFile, 3*time.Minute)
	a.term(30 * time.Second)

	msgs := readAllMessages(t, topic)
	tl := tallyOf(msgs)
	missing, dups, first := tl.check(w.Written())
	if missing != 0 || dups != 0 || tl.malformed != 0 {
		t.Fatalf("missing %d (first: %s), duplicates %d, malformed %d", missing, first, dups, tl.malformed)
	}
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	java := kafka.Murmur2Balancer{Consistent: true}
	wrong := 0
	for _, m := range msgs {
		file, _ := strconv.Atoi(strings.SplitN(string(m.Value), " ", 2)[0])
		if string(m.Key) != w.Paths()[file] {
			t.Fatalf("record of file %d keyed %q, want %q", file, m.Key, w.Paths()[file])
		}
		if want := java.Balance(kafka.Message{Key: m.Key}, ids...); m.Partition != want {
			wrong++
		}
	}
	if wrong != 0 {
		t.Fatalf("%d records on a partition other than murmur2(key)", wrong)
	}
	checkOrder(t, tl)
	t.Logf("shipped %d lines from %d files: 0 missing, 0 duplicates, partitions match murmur2", len(msgs), files)
}

// checkOrder asserts C4: per file, sequence numbers never go backwards.
func checkOrder(t *testing.T, tl *tally) {
	t.Helper()
	for file, seqs := range tl.order {
		if !slices.IsSorted(seqs) {
			t.Fatalf("file %d: sequence numbers out of order in Kafka", file)
		}
	}
}

// TestSIGTERMRestartNoDuplicates (F02): SIGTERM drains and writes the final
// checkpoint; a restart ships the rest with 0 missing and 0 duplicates.
func TestSIGTERMRestartNoDuplicates(t *testing.T) {
	topic := newTopic(t, 3)
	dir := t.TempDir()
	w := newWriter(t, dir, 4, 80)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	ctx, stop := context.WithCancel(context.Background())
	done := w.Run(t, ctx, 8000)
	for range 3 {
		a.start()
		waitShipped(t, topic, w.Total()/2, time.Minute)
		a.term(30 * time.Second)
	}
	stop()
	<-done
	a.start()
	waitShipped(t, topic, w.Total(), 2*time.Minute)
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check(w.Written())
	if missing != 0 || dups != 0 {
		t.Fatalf("after SIGTERM restarts: missing %d (first %s), duplicates %d", missing, first, dups)
	}
	checkOrder(t, tl)
	t.Logf("%d lines, 3 SIGTERM restarts under load: 0 missing, 0 duplicates", w.Total())
}

// lineEnds returns, for a writer file, the end offset of every line: the
// writer's format makes line lengths a function of (file, seq).
func lineEnds(file, n, payloadLen int) []int64 {
	ends := make([]int64, n)
	off := int64(0)
	for seq := range n {
		off += int64(len(strconv.Itoa(file)) + 1 + len(strconv.Itoa(seq)) + 1 + payloadLen + 1)
		ends[seq] = off
	}
	return ends
}

// linesCovered is how many lines end at or before offset.
func linesCovered(ends []int64, offset int64) int {
	n, _ := slices.BinarySearch(ends, offset+1)
	return n
}

// snapshotCheckpoint reads the agent's checkpoint file (the agent is frozen
// or dead) and returns the committed offset per writer file.
func snapshotCheckpoint(t *testing.T, a *agentProc, w *writer) map[int]int64 {
	t.Helper()
	entries, err := checkpoint.ReadFile(filepath.Join(a.Dir, "data", checkpoint.FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return map[int]int64{}
	}
	if err != nil {
		t.Fatalf("checkpoint unreadable: %v", err)
	}
	out := map[int]int64{}
	for _, e := range entries {
		for i, p := range w.Paths() {
			if p == e.Path {
				out[i] = e.Offset
			}
		}
	}
	return out
}

func hwSum(t *testing.T, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hw, err := cluster.HighWatermarks(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	s := int64(0)
	for _, v := range hw {
		s += v
	}
	return s
}

// TestKill9Rounds (F01): 20 rounds of kill -9 at random moments while 10
// files grow at 20,000 lines/s. Checks C1 (0 missing), C2 (duplicates
// within the bound of records acknowledged after the last durable
// checkpoint, plus counted retries) and C3 (a frozen agent's checkpoint is
// never ahead of Kafka).
func TestKill9Rounds(t *testing.T) {
	// Parallel: the long fault tests overlap (they mostly wait on
	// elections, outages and restarts), which keeps the suite short.
	t.Parallel()
	const files, payload, rounds, rate = 10, 60, 20, 20_000
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	t.Logf("seed %d", seed)
	topic := newTopic(t, 4)
	dir := t.TempDir()
	w := newWriter(t, dir, files, payload)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	ctx, stop := context.WithCancel(context.Background())
	done := w.Run(t, ctx, rate)
	defer func() { stop(); <-done }()

	prevCovered := 0
	prevHW := hwSum(t, topic)
	bound, retried := int64(0), 0.0
	c3checks := 0
	for round := range rounds {
		a.start()
		waitFor(t, 30*time.Second, "agent metrics endpoint", func() bool {
			_, err := a.Metric("logship_records_acked_total")
			return err == nil
		})
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond) // the random kill moment
		if round%4 == 1 {
			checkNotAhead(t, a, w, topic)
			c3checks++
		}
		if v, err := a.Metric("logship_records_retried_total"); err == nil {
			retried += v
		}
		a.Kill()
		ck := snapshotCheckpoint(t, a, w)
		written := w.Written()
		covered := 0
		for i := range files {
			covered += linesCovered(lineEnds(i, written[i], payload), ck[i])
		}
		hw := hwSum(t, topic)
		// Records that reached Kafka in this run beyond what the checkpoint
		// now covers will be sent again by the next run.
		bound += (hw - prevHW) - int64(covered-prevCovered)
		prevHW, prevCovered = hw, covered
	}
	stop()
	<-done
	a.start()
	waitShipped(t, topic, w.Total(), 3*time.Minute)
	waitFor(t, time.Minute, "all lines acknowledged", func() bool {
		tl := readTally(t, topic)
		m, _, _ := tl.check(w.Written())
		return m == 0
	})
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, dups, first := tl.check(w.Written())
	t.Logf("F01: %d rounds, %d lines written, %d records in Kafka, missing %d, duplicates %d, bound %d (+%.0f retried), %d C3 snapshots",
		rounds, w.Total(), tl.messages, missing, dups, bound, retried, c3checks)
	if missing != 0 {
		t.Fatalf("C1: %d lines missing (first %s)", missing, first)
	}
	if float64(dups) > float64(bound)+retried {
		t.Fatalf("C2: %d duplicates exceed the bound of %d records acknowledged after the last checkpoint + %.0f retried", dups, bound, retried)
	}
}

// checkNotAhead (C3) freezes the agent, copies its checkpoint, and checks
// that every line the checkpoint covers is in Kafka.
func checkNotAhead(t *testing.T, a *agentProc, w *writer, topic string) {
	t.Helper()
	a.Signal(syscall.SIGSTOP)
	defer a.Signal(syscall.SIGCONT)
	ck := snapshotCheckpoint(t, a, w)
	written := w.Written()
	tl := readTally(t, topic)
	for i := range w.Paths() {
		ends := lineEnds(i, written[i], len(w.Payload))
		n := linesCovered(ends, ck[i])
		for seq := range n {
			if tl.count[[2]int{i, seq}] == 0 {
				t.Fatalf("C3: checkpoint of file %d at offset %d covers seq %d which Kafka does not hold", i, ck[i], seq)
			}
		}
	}
}

// TestBrokerFaults (F05, F06, F07): broker clean restart, kill -9 and
// restart, and SIGSTOP for 60 s while lines keep coming: 0 missing, and
// delivery resumes without restarting the agent.
func TestBrokerFaults(t *testing.T) {
	for _, fault := range []struct {
		name   string
		inject func(t *testing.T)
	}{
		{"F05-clean-restart", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := cluster.Stop(ctx, 0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Second) // broker down while lines keep coming
			restart(t)
		}},
		{"F06-kill9-restart", func(t *testing.T) {
			if err := cluster.Kill(0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Second)
			restart(t)
		}},
		{"F07-sigstop-60s", func(t *testing.T) {
			if err := cluster.Pause(0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(60 * time.Second)
			if err := cluster.Resume(0); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(fault.name, func(t *testing.T) {
			topic := newTopic(t, 3)
			dir := t.TempDir()
			w := newWriter(t, dir, 4, 80)
			a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
			a.start()
			ctx, stop := context.WithCancel(context.Background())
			done := w.Run(t, ctx, 4000)
			waitShipped(t, topic, 2000, time.Minute)
			fault.inject(t)
			// The writer goes on for a while after the fault heals; C5 is
			// that everything, these lines included, reaches Kafka below.
			time.Sleep(2 * time.Second)
			stop()
			<-done
			waitShipped(t, topic, w.Total(), 3*time.Minute)
			retried, _ := a.Metric("logship_records_retried_total")
			a.term(30 * time.Second)
			tl := readTally(t, topic)
			missing, dups, first := tl.check(w.Written())
			t.Logf("%s: %d lines, missing %d, duplicates %d, retried %.0f", fault.name, w.Total(), missing, dups, retried)
			if missing != 0 {
				t.Fatalf("C1: %d missing (first %s)", missing, first)
			}
			if float64(dups) > retried {
				t.Fatalf("C2: %d duplicates but only %.0f records re-sent", dups, retried)
			}
		})
	}
}

func restart(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cluster.Restart(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

// TestMemoryBoundedWhileBrokerPaused: with the broker paused and 1 GB of new
// lines waiting, the agent (memory_limit 32MiB) stays under 100 MiB RSS;
// after the broker resumes everything is shipped.
func TestMemoryBoundedWhileBrokerPaused(t *testing.T) {
	const target = 1 << 30
	topic := newTopic(t, 3)
	dir := t.TempDir()
	w := newWriter(t, dir, 4, 1000)
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.Bin = agentBinPlain
	a.start()
	w.Write(t, 0, 10)
	waitShipped(t, topic, 10, time.Minute)
	resume := pauseBroker(t)
	lineLen := 1012
	for written := 0; written < target; written += 4 * 2_000 * lineLen {
		for i := range 4 {
			w.Write(t, i, 2_000)
		}
	}
	waitFor(t, time.Minute, "the memory budget to fill", func() bool {
		v, err := a.Metric("logship_inflight_bytes")
		return err == nil && v >= 30<<20
	})
	time.Sleep(5 * time.Second) // observation window while the broker stays paused
	peak := a.PeakRSS()
	t.Logf("peak RSS with the broker paused and %d lines (%.2f GB) waiting: %.1f MiB", w.Total(), float64(target)/1e9, float64(peak)/(1<<20))
	if peak <= 0 || peak > 100<<20 {
		t.Fatalf("peak RSS %d bytes, want under 100 MiB", peak)
	}
	resume()
	waitShipped(t, topic, w.Total(), 5*time.Minute)
	peak = a.PeakRSS()
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, _, first := tl.check(w.Written())
	if missing != 0 {
		t.Fatalf("%d missing after resume (first %s)", missing, first)
	}
	t.Logf("all %d lines shipped after resume; peak RSS overall %.1f MiB", w.Total(), float64(peak)/(1<<20))
}

// TestBrokerUnreachableAtStart: the agent starts while the cluster is down,
// keeps running, keeps the data in the files, and ships everything once the
// broker is back — without a restart.
func TestBrokerUnreachableAtStart(t *testing.T) {
	topic := newTopic(t, 3)
	dir := t.TempDir()
	w := newWriter(t, dir, 3, 80)
	for i := range 3 {
		w.Write(t, i, 1000)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cluster.Stop(ctx, 0); err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.start() // waits for /healthz: the agent runs without a broker
	for i := range 3 {
		w.Write(t, i, 1000)
	}
	time.Sleep(3 * time.Second) // the outage, with the agent up and files growing
	if !a.Running() {
		t.Fatalf("agent exited while the broker was unreachable: %v", a.ExitErr())
	}
	restart(t)
	waitShipped(t, topic, w.Total(), 2*time.Minute)
	a.term(30 * time.Second)
	tl := readTally(t, topic)
	missing, _, first := tl.check(w.Written())
	if missing != 0 {
		t.Fatalf("%d missing (first %s)", missing, first)
	}
	t.Logf("agent started with the broker down; all %d lines shipped once it came back", w.Total())
}
