package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest"
)

// Helpers for tests that run their own cluster (security listeners, fault
// proxy) instead of the package's shared plaintext one. The cluster's
// PLAINTEXT listener stays the verifier's path: what the agent shipped
// through TLS, SASL or the proxy is read back over a direct connection.

// newTopicOn creates a topic with a name derived from the test on c.
func newTopicOn(t testing.TB, c *kafkatest.Cluster, partitions int) string {
	t.Helper()
	name := topicName(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.CreateTopic(ctx, name, partitions, 1, nil); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return name
}

// hwSumOn is the sum of topic's high watermarks on c, or -1 when they
// cannot be read.
func hwSumOn(c *kafkatest.Cluster, topic string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hw, err := c.HighWatermarks(ctx, topic)
	if err != nil {
		return -1
	}
	s := int64(0)
	for _, v := range hw {
		s += v
	}
	return s
}

// waitShippedOn waits until topic on c holds at least n records.
func waitShippedOn(t testing.TB, c *kafkatest.Cluster, topic string, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%d records in %s", n, topic), func() bool {
		return hwSumOn(c, topic) >= int64(n)
	})
}

// readTallyOn reads all of topic from c.
func readTallyOn(t testing.TB, c *kafkatest.Cluster, topic string) *tally {
	t.Helper()
	return tallyOf(readAllOn(t, c, topic))
}

// setKafkaYAML inserts yaml (lines at the level of the kafka: keys) into
// the agent's configuration file, below "kafka:". It may only add keys the
// harness does not set (it sets brokers, linger, request_timeout,
// retry_backoff_max and metadata_refresh): duplicate keys are a config
// error.
func (a *agentProc) setKafkaYAML(yaml string) {
	a.t.Helper()
	b, err := os.ReadFile(a.ConfigPath)
	if err != nil {
		a.t.Fatal(err)
	}
	cfg := string(b)
	if strings.Count(cfg, "\nkafka:\n") != 1 {
		a.t.Fatalf("agent config has no single kafka section:\n%s", cfg)
	}
	cfg = strings.Replace(cfg, "\nkafka:\n", "\nkafka:\n"+indent(yaml, "  "), 1)
	if err := os.WriteFile(a.ConfigPath, []byte(cfg), 0o600); err != nil {
		a.t.Fatal(err)
	}
}

// logText returns the agent's whole log output so far (every run).
func (a *agentProc) logText() string {
	a.t.Helper()
	b, err := os.ReadFile(a.LogPath)
	if err != nil {
		a.t.Fatal(err)
	}
	return string(b)
}

// countLogLines counts the agent's log lines whose message is msg.
func (a *agentProc) countLogLines(msg string) int {
	return strings.Count(a.logText(), `"msg":"`+msg+`"`)
}

// firstLogLine returns the agent's first log line whose message is msg, or
// "".
func (a *agentProc) firstLogLine(msg string) string {
	for _, l := range strings.Split(a.logText(), "\n") {
		if strings.Contains(l, `"msg":"`+msg+`"`) {
			return l
		}
	}
	return ""
}
