// Package kafkatest runs a real Apache Kafka cluster (KRaft, combined
// broker+controller nodes on 127.0.0.1) for end-to-end tests and for the
// scripts/kafka command, and gives tests the fault controls (stop, kill,
// pause, restart) and the independent verifier (ReadAll, HighWatermarks) that
// TESTING.md asks for.
//
// The broker jars come from Maven Central through scripts/kafka.pom.xml and are
// cached under $LOGSHIP_CACHE (default <repo root>/.cache). Each node runs in a
// JVM of its own, in its own process group, with its data in the cluster's
// work directory.
//
// Typical use from TestMain:
//
//	func TestMain(m *testing.M) {
//		c, err := kafkatest.Start(context.Background(), kafkatest.Options{Nodes: 1})
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1) // fail, never skip, when the broker cannot start
//		}
//		cluster = c
//		code := m.Run()
//		if code != 0 {
//			c.Keep()
//		}
//		c.Close()
//		os.Exit(code)
//	}
//
// or, per test, StartForTest.
//
// Options.Listeners adds client listeners next to the PLAINTEXT one the
// package itself uses: SSL and SASL_SSL (with Options.TLS, PEM material from
// package pki, optionally demanding client certificates), SASL_PLAINTEXT,
// and listeners behind a fault-injecting proxy (package netfault) whose port
// the brokers advertise. SASL users come from Options.PlainUsers and
// Options.ScramUsers; SetScramPassword changes a SCRAM credential mid-run.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logship/logship/internal/kafkatest/netfault"
	"golang.org/x/sync/errgroup"
)

// EnvKeep names the environment variable that, when set to a non-empty value
// other than "0", keeps every cluster's work directory on Close.
const EnvKeep = "LOGSHIP_KEEP"

// ErrNodeNotRunning is returned (wrapped) by node controls that need a live
// broker process (Stop, Kill, Pause, Resume) when the node has none.
var ErrNodeNotRunning = errors.New("node not running")

// ErrNodeRunning is returned (wrapped) by Restart when the node's process is
// still alive.
var ErrNodeRunning = errors.New("node still running")

// defaultHeapMB is a broker's maximum heap unless Options.HeapMB says otherwise.
const defaultHeapMB = 384

// Options configures Start. The zero value starts one node in a fresh
// temporary directory.
type Options struct {
	// Nodes is the number of combined broker+controller nodes: 1 (RF 1) or 3
	// (RF 3, min.insync.replicas 2). 0 means 1.
	Nodes int
	// Dir is the cluster's work directory. Empty means a new directory under
	// os.TempDir(). It must not already hold a cluster.
	Dir string
	// Keep keeps Dir on Close (also forced by $LOGSHIP_KEEP).
	Keep bool
	// Detached starts brokers in sessions of their own without a parent-death
	// signal, so they outlive the calling process (used by the CLI). Close
	// still kills them.
	Detached bool
	// HeapMB is each broker's maximum heap in MiB. 0 means 384.
	HeapMB int
	// ReadyTimeout bounds how long Start and Restart wait for nodes to answer
	// metadata requests, in addition to the context. 0 means 90s.
	ReadyTimeout time.Duration
	// BrokerConfig overrides or adds server.properties entries on every node.
	BrokerConfig map[string]string
	// Listeners adds client listeners (SSL, SASL, proxied) to every node.
	// The PLAINTEXT listener stays: the brokers use it among themselves and
	// every method of Cluster uses it, so tests can verify through it.
	Listeners []Listener
	// TLS is the brokers' certificate material; required when a listener
	// uses SSL or SASL_SSL.
	TLS *TLSMaterial
	// PlainUsers are the SASL/PLAIN users (name -> password) of the SASL
	// listeners. PLAIN is enabled only when there are some.
	PlainUsers map[string]string
	// ScramUsers are SCRAM credentials created at storage format time.
	// SCRAM-SHA-256 and -512 are always enabled on SASL listeners;
	// SetScramPassword adds or changes credentials later.
	ScramUsers []ScramUser
	// Logger receives lifecycle events. nil discards them.
	Logger *slog.Logger
}

// Timings records how long the phases of Start took.
type Timings struct {
	Jars    time.Duration // finding or fetching the jars
	Archive time.Duration // finding or training the class-data-sharing archive
	Format  time.Duration // kafka-storage format of every node
	Ready   time.Duration // launching the JVMs until every node answered
}

// Cluster is a running (or attached) Kafka cluster. Its methods are safe for
// concurrent use. Node indexes run from 0 to NumNodes()-1 and equal the Kafka
// node ids.
type Cluster struct {
	dir       string
	libs      string
	clusterID string
	voters    string // --initial-controllers value shared by every node's format
	archive   string // AppCDS archive the JVMs map, or ""
	// dumpArchive makes the JVMs write an AppCDS archive there on exit (training).
	dumpArchive string
	heapMB      int
	detached    bool
	ready       time.Duration
	timings     Timings
	log         *slog.Logger
	tls         *TLSMaterial
	plainUsers  map[string]string
	scramUsers  []ScramUser

	mu     sync.Mutex
	nodes  []*node
	keep   bool
	closed bool
}

// Start fetches the jars if needed (EnsureJars), formats and launches
// opts.Nodes nodes, and returns once every node answers a metadata request
// listing all brokers. ctx bounds the whole start; the processes themselves
// are not tied to it. The first Start with a given cache and JDK also trains
// a class-data-sharing archive (one throw-away broker start and stop, about
// 10s) that later JVMs map to start about twice as fast; set
// $LOGSHIP_KAFKA_CDS=0 to skip it. On failure every started process is
// killed, the work directory is kept for inspection, and the error includes
// the tail of the failing node's logs.
//
// Attached (non-Detached) brokers get SIGKILL when the OS thread that
// started them exits; Go keeps its threads for the life of the process
// unless a goroutine exits while locked with runtime.LockOSThread, so do not
// call Start or Restart from such a goroutine.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	if opts.Nodes != 1 && opts.Nodes != 3 {
		return nil, fmt.Errorf("kafkatest: start: Nodes must be 1 or 3, got %d", opts.Nodes)
	}
	if err := validateSecurity(opts); err != nil {
		return nil, fmt.Errorf("kafkatest: start: %w", err)
	}
	if opts.HeapMB == 0 {
		opts.HeapMB = defaultHeapMB
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	t0 := time.Now()
	libs, err := EnsureJars(ctx)
	if err != nil {
		return nil, err
	}
	jarTime := time.Since(t0)
	t0 = time.Now()
	archive := classArchive(ctx, libs, opts.HeapMB, logger)
	archiveTime := time.Since(t0)

	// Per node: broker, controller, one per extra listener, and one per
	// listener proxy, all from one reservation so they are distinct.
	perNode := 2 + 2*len(opts.Listeners)
	ports, err := freePorts(perNode * opts.Nodes)
	if err != nil {
		return nil, err
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "kafkatest-"); err != nil {
			return nil, fmt.Errorf("kafkatest: start: %w", err)
		}
	} else {
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, fmt.Errorf("kafkatest: start: %w", err)
		}
		if _, err := os.Stat(filepath.Join(dir, stateFileName)); err == nil {
			return nil, fmt.Errorf("kafkatest: start: %s already holds a cluster", dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("kafkatest: start: %w", err)
		}
	}
	c := &Cluster{
		dir:        dir,
		libs:       libs,
		clusterID:  newKafkaUUID(),
		heapMB:     opts.HeapMB,
		archive:    archive,
		detached:   opts.Detached,
		ready:      opts.ReadyTimeout,
		log:        logger.With("component", "kafkatest", "dir", dir),
		keep:       opts.Keep,
		tls:        opts.TLS,
		plainUsers: opts.PlainUsers,
		scramUsers: opts.ScramUsers,
	}
	c.timings.Jars, c.timings.Archive = jarTime, archiveTime
	for i := range opts.Nodes {
		base := perNode * i
		n := &node{
			index:          i,
			brokerPort:     ports[base],
			controllerPort: ports[base+1],
			dir:            filepath.Join(dir, "node-"+strconv.Itoa(i)),
		}
		for j, l := range opts.Listeners {
			nl := &nodeListener{spec: l, port: ports[base+2+2*j]}
			if l.Proxied {
				proxyAddr := "127.0.0.1:" + strconv.Itoa(ports[base+3+2*j])
				if nl.proxy, err = netfault.New(proxyAddr, "127.0.0.1:"+strconv.Itoa(nl.port)); err != nil {
					c.nodes = append(c.nodes, n)
					return nil, errors.Join(fmt.Errorf("kafkatest: start: %w", err), c.Close())
				}
			}
			n.listeners = append(n.listeners, nl)
		}
		c.nodes = append(c.nodes, n)
	}
	if len(c.nodes) > 1 {
		c.voters = c.initialControllers()
	}
	if err := c.start(ctx, opts.BrokerConfig); err != nil {
		c.Keep()
		if cerr := c.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, fmt.Errorf("%w\n(work dir kept: %s)", err, dir)
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, extra map[string]string) error {
	t0 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range c.nodes {
		if err := c.writeNodeFiles(n, extra); err != nil {
			return err
		}
		g.Go(func() error { return c.format(gctx, n) }) // exits when the format JVM does
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.timings.Format = time.Since(t0)

	t1 := time.Now()
	c.mu.Lock()
	for _, n := range c.nodes {
		if err := c.launch(n); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	err := c.saveState()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.ready)
	defer cancel()
	g, gctx = errgroup.WithContext(ctx)
	for _, n := range c.nodes {
		g.Go(func() error { return c.waitReady(gctx, n, len(c.nodes)) }) // bounded by gctx
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.timings.Ready = time.Since(t1)
	c.log.Info("cluster started", "nodes", len(c.nodes), "bootstrap", c.Bootstrap(),
		"jars", c.timings.Jars, "archive", c.timings.Archive, "format", c.timings.Format, "ready", c.timings.Ready)
	return nil
}

// Timings reports how long the phases of Start took (zero for an attached
// cluster).
func (c *Cluster) Timings() Timings { return c.timings }

// Dir returns the cluster's work directory.
func (c *Cluster) Dir() string { return c.dir }

// NumNodes returns the number of nodes.
func (c *Cluster) NumNodes() int { return len(c.nodes) }

// Bootstrap returns the client listeners of all nodes, comma separated
// ("127.0.0.1:p0,127.0.0.1:p1,..."), whatever their state.
func (c *Cluster) Bootstrap() string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr()
	}
	return strings.Join(addrs, ",")
}

// Node describes node i. It panics if i is out of range.
func (c *Cluster) Node(i int) NodeInfo {
	c.mu.Lock()
	n := c.nodes[i]
	pid := n.pid
	c.mu.Unlock()
	info := NodeInfo{
		Index:          n.index,
		Addr:           n.addr(),
		ControllerAddr: n.controllerAddr(),
		Dir:            n.dir,
		LogPath:        n.logPath(),
		PID:            pid,
	}
	if pid != 0 && procMatches(pid, n.propsPath()) {
		switch alive, stopped := procStatus(pid); {
		case alive && stopped:
			info.State = NodePaused
		case alive:
			info.State = NodeRunning
		}
	}
	return info
}

// Keep makes Close leave the work directory in place (call it when a test
// failed). Safe from any goroutine.
func (c *Cluster) Keep() {
	c.mu.Lock()
	c.keep = true
	c.mu.Unlock()
}

// Close kills every node (SIGKILL to its process group), waits for the
// processes to exit, and removes the work directory unless Keep was called,
// Options.Keep was set or $LOGSHIP_KEEP is set. It applies to detached and
// attached clusters alike. Calls after the first return nil.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	keep := c.keep || keepFromEnv()
	c.mu.Unlock()

	var errs []error
	for i := range c.nodes {
		if err := c.Kill(i); err != nil && !errors.Is(err, ErrNodeNotRunning) {
			errs = append(errs, err)
		}
	}
	if err := c.closeProxies(); err != nil {
		errs = append(errs, fmt.Errorf("kafkatest: close: %w", err))
	}
	if keep {
		c.log.Info("work dir kept", "path", c.dir)
	} else if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("kafkatest: close: %w", err))
	}
	return errors.Join(errs...)
}

func keepFromEnv() bool {
	v := os.Getenv(EnvKeep)
	return v != "" && v != "0"
}

// newKafkaUUID returns a random Kafka Uuid string (16 bytes, unpadded
// URL-safe base64) that does not start with '-', as Kafka's own generator
// guarantees, so it never parses as a command-line flag.
func newKafkaUUID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		s := base64.RawURLEncoding.EncodeToString(b[:])
		if s[0] != '-' {
			return s
		}
	}
}
