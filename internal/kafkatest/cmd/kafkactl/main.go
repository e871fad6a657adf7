// Command kafkactl starts and controls a local Apache Kafka cluster for
// development and shell-driven tests, using the same code as the Go tests
// (internal/kafkatest). Brokers are detached: they keep running after
// kafkactl exits, and later invocations find them through the state file in
// the cluster directory. scripts/kafka wraps it.
//
// Usage:
//
//	kafkactl start [-nodes 1|3] [-dir DIR] [-heap MB] [-config k=v]...   prints the bootstrap address
//	kafkactl create-topic [-dir DIR] -topic T -partitions N [-rf R] [-config k=v]...
//	kafkactl stop|kill|pause|resume|restart [-dir DIR] [-node I]         all nodes when -node is absent
//	kafkactl status [-dir DIR]
//	kafkactl bootstrap [-dir DIR]
//	kafkactl down [-dir DIR]                                             kill every node, remove DIR
//	kafkactl fetch                                                       fetch the jars, train the class archive
//	kafkactl wait-records [-dir DIR] -topic T -count N [-timeout D]      wait until T holds N records
//	kafkactl consume [-dir DIR] -topic T [-limit N]                      print records: partition, offset, key, value
//
// DIR defaults to $LOGSHIP_CACHE/cluster (<repo root>/.cache/cluster).
// Exit status: 0 on success, 1 on failure, 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

const usage = `usage: kafkactl <command> [flags]

commands:
  start         start a cluster (-nodes 1|3) and print its bootstrap address
  create-topic  create a topic and wait for its leaders
  stop          SIGTERM and wait for a clean exit (-node I, default all)
  kill          SIGKILL (-node I, default all)
  pause         SIGSTOP (-node I, default all)
  resume        SIGCONT (-node I, default all)
  restart       start stopped nodes again on the same ports and data
  status        show nodes, pids and states
  bootstrap     print the bootstrap address
  down          kill every node and remove the cluster directory
  fetch         fetch the Kafka jars and train the class archive (no-op when cached)
  wait-records  wait until a topic holds at least -count records
  consume       print a topic's records (first -limit per partition)

run "kafkactl <command> -h" for the flags of a command
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors that should exit with status 2.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := dispatch(ctx, args[0], args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "kafkactl: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "kafkactl %s: %v\n", args[0], err)
		return 1
	}
}

// kvFlags collects repeated -config k=v flags.
type kvFlags map[string]string

func (f kvFlags) String() string { return fmt.Sprint(map[string]string(f)) }

func (f kvFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	f[k] = v
	return nil
}

// common holds the flags every command shares.
type common struct {
	dir     string
	verbose bool
}

func newFlagSet(name string, stderr io.Writer, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dir, "dir", "", "cluster directory (default $LOGSHIP_CACHE/cluster)")
	fs.BoolVar(&c.verbose, "v", false, "log lifecycle events to stderr")
	return fs
}

func (c *common) resolve(stderr io.Writer) (string, *slog.Logger, error) {
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	dir := c.dir
	if dir == "" {
		cache, err := kafkatest.CacheDir()
		if err != nil {
			return "", nil, err
		}
		dir = filepath.Join(cache, "cluster")
	}
	abs, err := filepath.Abs(dir)
	return abs, logger, err
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected arguments %q", errUsage, fs.Name(), fs.Args())
	}
	return nil
}

func dispatch(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlagSet(cmd, stderr, &c)
	switch cmd {
	case "start":
		nodes := fs.Int("nodes", 1, "number of nodes: 1 or 3")
		heap := fs.Int("heap", 0, "broker heap in MiB (default 384)")
		timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long (includes fetching jars)")
		configs := kvFlags{}
		fs.Var(configs, "config", "extra server.properties entry key=value (repeatable)")
		if err := parse(fs, args); err != nil {
			return err
		}
		dir, logger, err := c.resolve(stderr)
		if err != nil {
			return err
		}
		return start(ctx, dir, logger, *nodes, *heap, *timeout, configs, stdout)
	case "create-topic":
		topic := fs.String("topic", "", "topic name (required)")
		partitions := fs.Int("partitions", 1, "number of partitions")
		rf := fs.Int("rf", 0, "replication factor (default 3 on three nodes, else 1)")
		timeout := fs.Duration("timeout", time.Minute, "give up after this long")
		configs := kvFlags{}
		fs.Var(configs, "config", "topic config key=value (repeatable)")
		if err := parse(fs, args); err != nil {
			return err
		}
		if *topic == "" {
			return fmt.Errorf("%w: create-topic: -topic is required", errUsage)
		}
		cl, err := attach(&c, stderr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return cl.CreateTopic(ctx, *topic, *partitions, *rf, configs)
	case "stop", "kill", "pause", "resume", "restart":
		nodeIdx := fs.Int("node", -1, "node index (default: every node)")
		timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long (stop kills a node that has not exited by then)")
		if err := parse(fs, args); err != nil {
			return err
		}
		cl, err := attach(&c, stderr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return control(ctx, cl, cmd, *nodeIdx)
	case "status":
		if err := parse(fs, args); err != nil {
			return err
		}
		cl, err := attach(&c, stderr)
		if err != nil {
			return err
		}
		return status(cl, stdout)
	case "bootstrap":
		if err := parse(fs, args); err != nil {
			return err
		}
		cl, err := attach(&c, stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, cl.Bootstrap())
		return nil
	case "down":
		if err := parse(fs, args); err != nil {
			return err
		}
		dir, logger, err := c.resolve(stderr)
		if err != nil {
			return err
		}
		cl, err := kafkatest.Attach(dir, logger)
		if errors.Is(err, os.ErrNotExist) {
			return nil // nothing to take down
		}
		if err != nil {
			return err
		}
		return cl.Close()
	case "fetch":
		if err := parse(fs, args); err != nil {
			return err
		}
		_, logger, err := c.resolve(stderr)
		if err != nil {
			return err
		}
		return kafkatest.Prepare(ctx, logger)
	case "wait-records":
		topic := fs.String("topic", "", "topic name (required)")
		count := fs.Int64("count", 1, "number of records to wait for")
		timeout := fs.Duration("timeout", time.Minute, "give up after this long")
		if err := parse(fs, args); err != nil {
			return err
		}
		if *topic == "" {
			return fmt.Errorf("%w: wait-records: -topic is required", errUsage)
		}
		cl, err := attach(&c, stderr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return waitRecords(ctx, cl, *topic, *count, stdout)
	case "consume":
		topic := fs.String("topic", "", "topic name (required)")
		limit := fs.Int("limit", 0, "records to print per partition (0: all)")
		timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
		if err := parse(fs, args); err != nil {
			return err
		}
		if *topic == "" {
			return fmt.Errorf("%w: consume: -topic is required", errUsage)
		}
		cl, err := attach(&c, stderr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return consume(ctx, cl, *topic, *limit, stdout)
	default:
		return fmt.Errorf("%w: unknown command %q (run kafkactl -h)", errUsage, cmd)
	}
}

func attach(c *common, stderr io.Writer) (*kafkatest.Cluster, error) {
	dir, logger, err := c.resolve(stderr)
	if err != nil {
		return nil, err
	}
	cl, err := kafkatest.Attach(dir, logger)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no cluster in %s (run kafkactl start): %w", dir, err)
	}
	return cl, err
}

// start refuses to replace a cluster that still has live nodes; a dead one
// (e.g. after a reboot) is cleared first.
func start(ctx context.Context, dir string, logger *slog.Logger, nodes, heap int, timeout time.Duration, configs kvFlags, stdout io.Writer) error {
	if old, err := kafkatest.Attach(dir, logger); err == nil {
		for i := range old.NumNodes() {
			if n := old.Node(i); n.State != kafkatest.NodeStopped {
				return fmt.Errorf("a cluster is already running in %s (node %d pid %d is %v); run kafkactl down first",
					dir, i, n.PID, n.State)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s holds an unreadable cluster (remove it by hand): %w", dir, err)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty and holds no cluster; remove it or pick another -dir", dir)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := kafkatest.Start(ctx, kafkatest.Options{
		Nodes: nodes, Dir: dir, Keep: true, Detached: true, HeapMB: heap, BrokerConfig: configs, Logger: logger,
	})
	if err != nil {
		return err
	}
	t := cl.Timings()
	logger.Info("started", "jars", t.Jars, "format", t.Format, "ready", t.Ready)
	fmt.Fprintln(stdout, cl.Bootstrap())
	return nil
}

// control applies a node command to one node or, concurrently, to all. With
// all nodes, nodes already in the wanted state are skipped.
func control(ctx context.Context, cl *kafkatest.Cluster, cmd string, idx int) error {
	one := func(i int) error {
		switch cmd {
		case "stop":
			return cl.Stop(ctx, i)
		case "kill":
			return cl.Kill(i)
		case "pause":
			return cl.Pause(i)
		case "resume":
			return cl.Resume(i)
		default:
			return cl.Restart(ctx, i)
		}
	}
	if idx >= 0 {
		if idx >= cl.NumNodes() {
			return fmt.Errorf("%w: -node %d: cluster has %d nodes", errUsage, idx, cl.NumNodes())
		}
		return one(idx)
	}
	var g errgroup.Group
	for i := range cl.NumNodes() {
		st := cl.Node(i).State
		skip := (cmd == "restart" && st != kafkatest.NodeStopped) ||
			(cmd != "restart" && st == kafkatest.NodeStopped)
		if skip {
			continue
		}
		g.Go(func() error { return one(i) }) // returns when the node reached the state
	}
	return g.Wait()
}

func status(cl *kafkatest.Cluster, stdout io.Writer) error {
	fmt.Fprintf(stdout, "dir:       %s\nbootstrap: %s\n", cl.Dir(), cl.Bootstrap())
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tPID\tADDR\tCONTROLLER\tLOG")
	for i := range cl.NumNodes() {
		n := cl.Node(i)
		fmt.Fprintf(tw, "%d\t%v\t%d\t%s\t%s\t%s\n", n.Index, n.State, n.PID, n.Addr, n.ControllerAddr, n.LogPath)
	}
	return tw.Flush()
}

// waitRecords polls the high watermarks until they add up to count (records
// are never deleted on a fresh test topic, so the sum is the record count).
func waitRecords(ctx context.Context, cl *kafkatest.Cluster, topic string, count int64, stdout io.Writer) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var total int64
	for {
		hw, err := cl.HighWatermarks(ctx, topic)
		if err == nil {
			total = 0
			for _, v := range hw {
				total += v
			}
			if total >= count {
				fmt.Fprintf(stdout, "%s holds %d records\n", topic, total)
				return nil
			}
		} else if errors.Is(err, kafka.UnknownTopicOrPartition) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s holds %d of %d records: %w", topic, total, count, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// consume prints the topic's records, limit per partition (0: all), one per
// line: partition, offset, key and value, tab separated, bytes quoted when
// not printable.
func consume(ctx context.Context, cl *kafkatest.Cluster, topic string, limit int, stdout io.Writer) error {
	msgs, err := cl.ReadAll(ctx, topic)
	if err != nil {
		return err
	}
	perPartition := map[int]int{}
	for _, m := range msgs {
		if limit > 0 && perPartition[m.Partition] >= limit {
			continue
		}
		perPartition[m.Partition]++
		fmt.Fprintf(stdout, "partition=%d\toffset=%d\tkey=%s\tvalue=%s\n", m.Partition, m.Offset, printable(m.Key), printable(m.Value))
	}
	return nil
}

func printable(b []byte) string {
	if utf8.Valid(b) && !strings.ContainsFunc(string(b), func(r rune) bool { return !unicode.IsPrint(r) }) {
		return string(b)
	}
	return strconv.Quote(string(b))
}
