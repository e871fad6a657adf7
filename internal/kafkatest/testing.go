package kafkatest

import (
	"log/slog"
	"testing"
)

// StartForTest starts a cluster for one test (or benchmark) and registers its
// Close with tb.Cleanup. The work directory is kept when the test failed (and
// its path logged). It fails the test with tb.Fatal — never skips — when the
// cluster cannot start. Must be called from the test's goroutine. When
// opts.Logger is nil, lifecycle events go to the test log.
func StartForTest(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(tb.Output(), nil))
	}
	ctx := tb.Context()
	c, err := Start(ctx, opts)
	if err != nil {
		tb.Fatalf("kafka cluster did not start: %v", err)
	}
	t := c.Timings()
	tb.Logf("kafka %s: %d node(s) at %s; jars %v, class archive %v, format %v, ready %v",
		KafkaVersion, c.NumNodes(), c.Bootstrap(), t.Jars, t.Archive, t.Format, t.Ready)
	tb.Cleanup(func() {
		if tb.Failed() {
			c.Keep()
			tb.Logf("kafka work dir kept: %s", c.Dir())
		}
		if err := c.Close(); err != nil {
			tb.Errorf("close kafka cluster: %v", err)
		}
	})
	return c
}
