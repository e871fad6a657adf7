package kafkatest

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// writer returns a producer with acks=all and a private transport (so no
// metadata is shared with other writers) to the running nodes of c.
func writer(t *testing.T, c *Cluster, topic string) *kafka.Writer {
	t.Helper()
	var addrs []string
	for i := range c.NumNodes() {
		if n := c.Node(i); n.State == NodeRunning {
			addrs = append(addrs, n.Addr)
		}
	}
	tr := &kafka.Transport{}
	w := &kafka.Writer{
		Addr:         kafka.TCP(addrs...),
		Topic:        topic,
		RequiredAcks: kafka.RequireAll,
		Balancer:     &kafka.Hash{},
		BatchSize:    1000,
		BatchTimeout: 5 * time.Millisecond,
		Transport:    tr,
	}
	t.Cleanup(func() {
		_ = w.Close()
		tr.CloseIdleConnections() // Writer.Close leaves a caller's transport open
	})
	return w
}

// produce writes records "<prefix>-<i>" for i in [from, to) with key i.
func produce(ctx context.Context, t *testing.T, w *kafka.Writer, prefix string, from, to int) {
	t.Helper()
	msgs := make([]kafka.Message, 0, to-from)
	for i := from; i < to; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte(prefix + "-" + strconv.Itoa(i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce %s [%d,%d): %v", prefix, from, to, err)
	}
}

// checkExactlyOnce asserts that msgs hold exactly the records produce wrote
// for [0, n) with prefix, and that offsets are unique per partition.
func checkExactlyOnce(t *testing.T, msgs []Message, prefix string, n int) {
	t.Helper()
	seen := make([]int, n)
	offsets := make(map[[2]int64]bool, len(msgs))
	for _, m := range msgs {
		k := [2]int64{int64(m.Partition), m.Offset}
		if offsets[k] {
			t.Fatalf("partition %d offset %d returned twice", m.Partition, m.Offset)
		}
		offsets[k] = true
		i, err := strconv.Atoi(string(m.Key))
		if err != nil || i < 0 || i >= n {
			t.Fatalf("unexpected key %q at %d/%d", m.Key, m.Partition, m.Offset)
		}
		if want := prefix + "-" + strconv.Itoa(i); string(m.Value) != want {
			t.Fatalf("key %d: value %q, want %q", i, m.Value, want)
		}
		seen[i]++
	}
	var missing, dup int
	for _, c := range seen {
		switch {
		case c == 0:
			missing++
		case c > 1:
			dup++
		}
	}
	if missing != 0 || dup != 0 || len(msgs) != n {
		t.Fatalf("read %d records: %d missing, %d duplicated, want exactly %d", len(msgs), missing, dup, n)
	}
}

func TestSingleNodeProduceConsume(t *testing.T) {
	c := StartForTest(t, Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	const topic, n = "single", 10_000
	if err := c.CreateTopic(ctx, topic, 3, 1, map[string]string{"retention.ms": "-1"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	produce(ctx, t, writer(t, c, topic), "v", 0, n)
	t.Logf("produced %d records in %v", n, time.Since(t0))

	hw, err := c.HighWatermarks(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, v := range hw {
		total += v
	}
	if len(hw) != 3 || total != n {
		t.Fatalf("high watermarks %v: want 3 partitions summing to %d", hw, n)
	}

	t0 = time.Now()
	msgs, err := c.ReadAll(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %d records in %v", len(msgs), time.Since(t0))
	checkExactlyOnce(t, msgs, "v", n)

	if err := c.CreateTopic(ctx, topic, 3, 1, nil); !errors.Is(err, kafka.TopicAlreadyExists) {
		t.Fatalf("creating %s again: got %v, want TopicAlreadyExists", topic, err)
	}
	if _, err := c.ReadAll(ctx, "no-such-topic"); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Fatalf("reading a missing topic: got %v, want UnknownTopicOrPartition", err)
	}
	if err := c.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic(ctx, topic, 1, 1, nil); err != nil {
		t.Fatalf("creating %s after delete: %v", topic, err)
	}
}

func TestThreeNodeLeaderFailover(t *testing.T) {
	c := StartForTest(t, Options{Nodes: 3})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Second)
	defer cancel()

	const topic = "failover"
	if err := c.CreateTopic(ctx, topic, 1, 3, nil); err != nil {
		t.Fatal(err)
	}
	parts, err := c.Partitions(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts[0].Replicas) != 3 || len(parts[0].ISR) != 3 {
		t.Fatalf("partition 0 = %+v, want 3 replicas in sync", parts[0])
	}
	produce(ctx, t, writer(t, c, topic), "v", 0, 100)

	old, err := c.Leader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := c.Kill(old); err != nil {
		t.Fatal(err)
	}
	if st := c.Node(old).State; st != NodeStopped {
		t.Fatalf("node %d is %v after Kill", old, st)
	}
	var now int
	waitFor(ctx, t, "a new leader for partition 0", func() (bool, error) {
		l, err := c.Leader(ctx, topic, 0)
		now = l
		return err == nil && l != old, err
	})
	t.Logf("leader moved from node %d to node %d %v after the kill", old, now, time.Since(t0))

	// acks=all with min.insync.replicas=2 still succeeds on the two survivors.
	produce(ctx, t, writer(t, c, topic), "v", 100, 200)
	msgs, err := c.ReadAll(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, msgs, "v", 200)

	t0 = time.Now()
	if err := c.Restart(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, old); !errors.Is(err, ErrNodeRunning) {
		t.Fatalf("second restart: got %v, want ErrNodeRunning", err)
	}
	waitFor(ctx, t, "node "+strconv.Itoa(old)+" back in the ISR", func() (bool, error) {
		parts, err := c.Partitions(ctx, topic)
		if err != nil {
			return false, err
		}
		return len(parts[0].ISR) == 3, nil
	})
	t.Logf("node %d restarted and back in the ISR after %v", old, time.Since(t0))
}

// TestDetachedAttach drives a detached cluster through a second handle, the
// way the CLI does, and checks the process is gone after Close.
func TestDetachedAttach(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Nodes: 1, Detached: true})
	if err != nil {
		t.Fatal(err)
	}
	// Detached brokers have no parent-death signal: kill whatever runs now.
	t.Cleanup(func() {
		if now, err := Attach(c.Dir(), nil); err == nil {
			_ = now.Close()
		}
		_ = c.Close()
	})

	a, err := Attach(c.Dir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Bootstrap() != c.Bootstrap() {
		t.Fatalf("attached bootstrap %q, want %q", a.Bootstrap(), c.Bootstrap())
	}
	steps := []struct {
		name string
		do   func() error
		want NodeState
	}{
		{"pause", func() error { return a.Pause(0) }, NodePaused},
		{"resume", func() error { return a.Resume(0) }, NodeRunning},
		{"stop", func() error { return a.Stop(ctx, 0) }, NodeStopped},
		{"restart", func() error { return a.Restart(ctx, 0) }, NodeRunning},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := a.Node(0).State; got != s.want {
			t.Fatalf("after %s: node is %v, want %v", s.name, got, s.want)
		}
		t.Logf("%s took %v", s.name, time.Since(t0))
	}
	pid := a.Node(0).PID
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if alive, _ := procStatus(pid); alive {
		t.Fatalf("broker pid %d alive after Close", pid)
	}
	if err := a.Kill(0); !errors.Is(err, ErrNodeNotRunning) {
		t.Fatalf("killing a dead node: got %v, want ErrNodeNotRunning", err)
	}
	if _, err := os.Stat(a.Dir()); !os.IsNotExist(err) && !keepFromEnv() {
		t.Fatalf("work dir after Close: %v, want it removed", err)
	}
}

// TestStartFails checks that Start fails (rather than hangs) with an error
// that explains why and points at the kept work dir.
func TestStartFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want []string
	}{
		// kafka-storage format rejects the config.
		{"bad config", Options{BrokerConfig: map[string]string{"num.io.threads": "zero"}}, []string{"num.io.threads"}},
		// The broker JVM exits at once: -Xms128m exceeds -Xmx8m.
		{"broker exits", Options{HeapMB: 8}, []string{"exited", "tail of", "stdout.log", "heap"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			tc.opts.Dir = t.TempDir()
			c, err := Start(ctx, tc.opts)
			if err == nil {
				c.Close()
				t.Fatal("Start succeeded")
			}
			for _, w := range append(tc.want, tc.opts.Dir) {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// waitFor polls cond every 100ms until it holds or ctx ends. Errors from
// cond count as "not yet" (brokers answer errors while they fail over); the
// last one is reported on timeout.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := pollUntil(ctx, 100*time.Millisecond, func() (bool, error) {
		ok, err := cond()
		if err != nil {
			last = err
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last error: %v)", what, err, last)
	}
}
