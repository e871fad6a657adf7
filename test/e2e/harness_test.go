package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest"
)

// ---- writer: the ground truth ----

// writer appends "<file_id> <seq> <payload>\n" lines to N files and keeps
// the ledger of what it wrote.
type writer struct {
	mu      sync.Mutex
	paths   []string
	files   []*os.File
	next    []int // next sequence number per file
	payload string
}

func newWriter(t testing.TB, dir string, n, payloadLen int) *writer {
	t.Helper()
	w := &writer{payload: strings.Repeat("x", payloadLen)}
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("app-%02d.log", i))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		w.paths = append(w.paths, p)
		w.files = append(w.files, f)
		w.next = append(w.next, 0)
	}
	t.Cleanup(func() {
		for _, f := range w.files {
			f.Close()
		}
	})
	return w
}

// write appends n lines to file i in one write call.
func (w *writer) write(t testing.TB, i, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := make([]byte, 0, n*(len(w.payload)+16))
	for range n {
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(w.next[i]), 10)
		buf = append(buf, ' ')
		buf = append(buf, w.payload...)
		buf = append(buf, '\n')
		w.next[i]++
	}
	if _, err := w.files[i].Write(buf); err != nil {
		t.Errorf("writer: %v", err)
	}
}

// run writes rate lines per second spread over all files until ctx is done
// (or the test ends).
func (w *writer) run(t testing.TB, ctx context.Context, rate int) <-chan struct{} {
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { cancel(); <-done })
	const tick = 10 * time.Millisecond
	per := max(rate/int(time.Second/tick)/len(w.files), 1)
	go func() {
		defer close(done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				for i := range w.files {
					w.write(t, i, per)
				}
			}
		}
	}()
	return done
}

// written returns the ledger: lines written per file.
func (w *writer) written() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.next...)
}

func (w *writer) total() int {
	n := 0
	for _, c := range w.written() {
		n += c
	}
	return n
}

// ---- agent under test ----

type agentProc struct {
	t       testing.TB
	bin     string
	dir     string
	cfgPath string
	logPath string
	http    string
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	runs    int
	// cgroup, if set, is a cgroup directory (v1 memory or v2) the agent is
	// started in: a shell writes its own pid to cgroup.procs and execs the
	// agent, so the agent reads its cgroup limit from its first instruction.
	cgroup string
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
	dir := t.TempDir()
	a := &agentProc{t: t, bin: agentBin, dir: dir, cfgPath: filepath.Join(dir, "agent.yaml"),
		logPath: filepath.Join(dir, "agent.log"), http: freeAddr(t)}
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
%s`, filepath.Join(dir, "data"), c.MemoryLimit, indent(c.AgentExtra, "  "), a.http, c.Brokers, c.Glob, c.Topic,
		c.Key, c.Partitioner, c.Serializer, indent(c.Extra, "    "))
	if err := os.WriteFile(a.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			b, _ := os.ReadFile(a.logPath)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("agent log tail (%s):\n%s", a.logPath, b)
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

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start launches the agent; its stderr (logs) is appended to logPath.
func (a *agentProc) start() {
	a.t.Helper()
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.t.Fatal(err)
	}
	a.runs++
	fmt.Fprintf(logf, "---- start %d ----\n", a.runs)
	cmd := exec.Command(a.bin, "run", "-config", a.cfgPath)
	if a.cgroup != "" {
		cmd = exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" run -config "$3"`,
			"sh", a.cgroup, a.bin, a.cfgPath)
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.cmd = cmd
	a.exited = make(chan struct{})
	go func() {
		a.exitErr = cmd.Wait()
		logf.Close()
		close(a.exited)
	}()
	waitFor(a.t, 30*time.Second, "agent /healthz", func() bool {
		if !a.running() {
			a.t.Fatalf("agent exited during start-up: %v", a.exitErr)
		}
		resp, err := http.Get("http://" + a.http + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (a *agentProc) running() bool {
	if a.cmd == nil {
		return false
	}
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits.
func (a *agentProc) kill() {
	if !a.running() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGCONT)
	_ = a.cmd.Process.Kill()
	<-a.exited
}

// term sends SIGTERM and waits for a clean exit.
func (a *agentProc) term(timeout time.Duration) {
	a.t.Helper()
	if !a.running() {
		a.t.Fatalf("agent not running (exit: %v)", a.exitErr)
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		if a.exitErr != nil {
			a.t.Fatalf("agent exited with %v after SIGTERM", a.exitErr)
		}
	case <-time.After(timeout):
		a.t.Fatalf("agent did not exit within %s of SIGTERM", timeout)
	}
}

func (a *agentProc) signal(sig syscall.Signal) {
	if a.running() {
		_ = a.cmd.Process.Signal(sig)
	}
}

// readyz returns the status code of /readyz (0 when unreachable).
func (a *agentProc) readyz() int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + a.http + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metric scrapes /metrics and returns the sum of all series of name.
func (a *agentProc) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return sumMetric(resp.Body, name)
}

func sumMetric(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sum, found := 0.0, false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, err
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("metric %s not found", name)
	}
	return sum, sc.Err()
}

// rss returns the agent's peak resident set (VmHWM) in bytes.
func (a *agentProc) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return -1
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	msgs, err := cluster.ReadAll(ctx, topic)
	if err != nil {
		t.Fatalf("read topic %s: %v", topic, err)
	}
	return tallyOf(msgs)
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

// waitFor polls cond until it returns true or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
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
