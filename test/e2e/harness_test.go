package e2e

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logship/logship/internal/agenttest"
	"github.com/logship/logship/internal/kafkatest"
)

// ---- writer: the ground truth (agenttest.Writer) ----

type writer = agenttest.Writer

var newWriter = agenttest.NewWriter

// ---- agent under test ----

// agentProc is the agent under test of one test: agenttest.Agent with the
// test's configuration, killed when the test ends, its log printed if the
// test failed.
type agentProc struct {
	*agenttest.Agent
	t testing.TB
}

type agentConfig struct {
	Brokers     string
	Topic       string
	Glob        string
	Key         string
	Partitioner string
	Serializer  string
	MemoryLimit string
	Extra       string // extra YAML appended under the pipeline
	AgentExtra  string // extra YAML under agent:
}

func newAgent(t testing.TB, c agentConfig) *agentProc {
	t.Helper()
	ag, err := agenttest.New(agentBin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &agentProc{Agent: ag, t: t}
	if c.Key == "" {
		c.Key = "source"
	}
	if c.Partitioner == "" {
		c.Partitioner = "hash"
	}
	if c.Serializer == "" {
		c.Serializer = "raw"
	}
	if c.MemoryLimit == "" {
		c.MemoryLimit = "32MiB"
	}
	cfg := fmt.Sprintf(`agent:
  host: test-host
  data_dir: %s
  memory_limit: %s
  shutdown_timeout: 20s
  checkpoint_interval: 200ms
  log_level: debug
%shttp:
  listen: %q
kafka:
  brokers: [%q]
  linger: 5ms
  request_timeout: 10s
  retry_backoff_max: 1s
  metadata_refresh: 2s
pipelines:
  - name: test
    paths: [%q]
    topic: %s
    key: %s
    partitioner: %s
    serializer: %s
    rescan_interval: 500ms
%s`, a.DataDir(), c.MemoryLimit, indent(c.AgentExtra, "  "), a.HTTP, c.Brokers, c.Glob, c.Topic,
		c.Key, c.Partitioner, c.Serializer, indent(c.Extra, "    "))
	if err := a.WriteConfig(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(a.LogPath)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("agent log tail (%s):\n%s", a.LogPath, b)
		}
	})
	return a
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

var (
	freeAddr = agenttest.MustFreeAddr
	waitFor  = agenttest.WaitFor
)

// start launches the agent and waits until /healthz answers; its output is
// appended to LogPath.
func (a *agentProc) start() {
	a.t.Helper()
	if err := a.Start(); err != nil {
		a.t.Fatal(err)
	}
	if err := a.WaitHealthy(30 * time.Second); err != nil {
		a.t.Fatal(err)
	}
}

// term sends SIGTERM and waits for a clean exit.
func (a *agentProc) term(timeout time.Duration) {
	a.t.Helper()
	if err := a.Term(timeout); err != nil {
		a.t.Fatal(err)
	}
}

// ---- verifier ----

// The verifier reads Kafka with kcat (kafkatest.Cluster.ReadAll), a client
// that shares no code with the producer, and compares every record with the
// writers' ledger: a line written and not in Kafka (missing), a record no
// writer wrote (phantom), a record that is not a writer's line (malformed)
// and extra copies (duplicates) are all found.

// tally is what Kafka holds for one test topic, parsed from the writer's
// line format.
type tally struct {
	count     map[[2]int]int // (file, seq) -> copies
	order     map[int][]int  // file -> seqs in partition-offset order (one partition per file with key: source)
	messages  int
	malformed int // records that are not "<file> <seq> <payload>" as the writers write them
	// firstMalformed describes the first malformed record.
	firstMalformed string
}

func readTally(t testing.TB, topic string) *tally {
	t.Helper()
	return readTallyOn(t, cluster, topic)
}

// readAllMessages reads all of topic from the package's shared cluster.
func readAllMessages(t testing.TB, topic string) []kafkatest.Message {
	t.Helper()
	return readAllOn(t, cluster, topic)
}

// readAllOn reads all of topic from c with kcat, within three minutes.
func readAllOn(t testing.TB, c *kafkatest.Cluster, topic string) []kafkatest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	msgs, err := c.ReadAll(ctx, topic)
	if err != nil {
		t.Fatalf("read topic %s: %v", topic, err)
	}
	return msgs
}

func tallyOf(msgs []kafkatest.Message) *tally {
	tl := &tally{count: map[[2]int]int{}, order: map[int][]int{}, messages: len(msgs)}
	for _, m := range msgs {
		file, seq, ok := parseLine(m.Value)
		if !ok {
			if tl.malformed == 0 {
				tl.firstMalformed = fmt.Sprintf("partition %d offset %d: %.80q", m.Partition, m.Offset, m.Value)
			}
			tl.malformed++
			continue
		}
		tl.count[[2]int{file, seq}]++
		tl.order[file] = append(tl.order[file], seq)
	}
	return tl
}

// parseLine parses a writer's line "<file> <seq>[ <payload>]": file and seq
// in canonical decimal, the payload one byte repeated (every writer here
// writes such payloads), so that a corrupted, cut or merged record does not
// pass for a line. A null value is malformed.
func parseLine(v []byte) (file, seq int, ok bool) {
	if v == nil {
		return 0, 0, false
	}
	f := bytes.SplitN(v, []byte(" "), 3)
	if len(f) < 2 {
		return 0, 0, false
	}
	num := func(b []byte) (int, bool) {
		n, err := strconv.Atoi(string(b))
		return n, err == nil && n >= 0 && strconv.Itoa(n) == string(b)
	}
	file, ok1 := num(f[0])
	seq, ok2 := num(f[1])
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	if len(f) == 3 && len(f[2]) > 0 {
		p := f[2]
		if p[0] <= ' ' || p[0] > '~' || len(bytes.Trim(p, string(p[:1]))) != 0 {
			return 0, 0, false
		}
	}
	return file, seq, true
}

// check compares the tally with the writers' ledger (lines written per
// file). missing counts the lines written and not in Kafka plus the phantom
// records, in Kafka but never written: either way Kafka and the ledger
// disagree, so every caller that fails on missing lines fails on phantoms.
// first names the first missing line or phantom record. dups counts extra
// copies of written lines. Malformed records are counted in tl.malformed.
func (tl *tally) check(written []int) (missing, dups int, first string) {
	for file, n := range written {
		for seq := range n {
			c := tl.count[[2]int{file, seq}]
			if c == 0 {
				if missing == 0 {
					first = fmt.Sprintf("file %d seq %d", file, seq)
				}
				missing++
			}
			if c > 1 {
				dups += c - 1
			}
		}
	}
	var phantoms [][2]int
	for k, c := range tl.count {
		if k[0] >= len(written) || k[1] >= written[k[0]] {
			for range c {
				phantoms = append(phantoms, k)
			}
		}
	}
	if len(phantoms) > 0 {
		slices.SortFunc(phantoms, func(a, b [2]int) int { return cmp.Or(a[0]-b[0], a[1]-b[1]) })
		if missing == 0 {
			first = fmt.Sprintf("phantom record file %d seq %d (never written)", phantoms[0][0], phantoms[0][1])
		}
		missing += len(phantoms)
	}
	return missing, dups, first
}

// pauseBroker freezes the shared cluster's broker (SIGSTOP) and returns
// the function that resumes it, failing the test if it cannot; the broker is
// resumed when the test ends if it has not been.
func pauseBroker(t testing.TB) (resume func()) {
	t.Helper()
	if err := cluster.Pause(0); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = cluster.Resume(0)
		}
	})
	return func() {
		t.Helper()
		if err := cluster.Resume(0); err != nil {
			t.Fatal(err)
		}
		resumed = true
	}
}

// waitShipped waits until the topic's high watermarks add up to at least n
// records.
func waitShipped(t testing.TB, topic string, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%d records in %s", n, topic), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hw, err := cluster.HighWatermarks(ctx, topic)
		if err != nil {
			return false
		}
		sum := int64(0)
		for _, v := range hw {
			sum += v
		}
		return sum >= int64(n)
	})
}

// topicSeq numbers topics; tests that call t.Parallel create topics too.
var topicSeq atomic.Int64

// topicName is a topic name unique in this run, derived from the test's name.
func topicName(t testing.TB) string {
	return fmt.Sprintf("e2e-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), topicSeq.Add(1))
}

// newTopic creates a topic on the package's shared cluster.
func newTopic(t testing.TB, partitions int) string {
	t.Helper()
	return newTopicOn(t, cluster, partitions)
}
