package soak

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// consumer is the independent verifier: one kcat (librdkafka, not the
// agent's client) per partition, started again from its position whenever
// it exits, streaming every record into a tally of (file, seq) copies.
type consumer struct {
	bootstrap string
	topic     string
	logDir    string

	mu        sync.Mutex
	counts    [][]uint8 // file -> seq -> copies (saturating)
	pos       map[int]int64
	messages  int64
	malformed int64
	firstBad  string
}

func newConsumer(bootstrap, topic, logDir string, partitions int) *consumer {
	c := &consumer{bootstrap: bootstrap, topic: topic, logDir: logDir, pos: map[int]int64{}}
	for p := range partitions {
		c.pos[p] = 0
	}
	return c
}

// run keeps one kcat per partition alive until ctx ends.
func (c *consumer) run(ctx context.Context) {
	var wg sync.WaitGroup
	c.mu.Lock()
	parts := len(c.pos)
	c.mu.Unlock()
	for p := range parts {
		wg.Go(func() {
			for ctx.Err() == nil {
				c.consume(ctx, p)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		})
	}
	wg.Wait()
}

func (c *consumer) consume(ctx context.Context, p int) {
	c.mu.Lock()
	from := c.pos[p]
	c.mu.Unlock()
	logf, err := os.OpenFile(filepath.Join(c.logDir, fmt.Sprintf("kcat-%d.log", p)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "kcat", "-C", "-q", "-u", "-b", c.bootstrap, "-t", c.topic,
		"-p", strconv.Itoa(p), "-o", strconv.FormatInt(from, 10), "-f", "%o %s\n",
		"-X", "fetch.wait.max.ms=100", "-X", "reconnect.backoff.max.ms=1000")
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(logf, "soak: start kcat: %v\n", err)
		return
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		c.record(p, sc.Bytes())
	}
	err = cmd.Wait()
	fmt.Fprintf(logf, "soak: kcat for partition %d exited: %v\n", p, err)
}

func (c *consumer) record(p int, line []byte) {
	f := bytes.SplitN(line, []byte(" "), 4)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(f) < 3 {
		c.malformed++
		return
	}
	off, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil || off < c.pos[p] {
		c.malformed++
		return
	}
	c.pos[p] = off + 1
	c.messages++
	file, err1 := strconv.Atoi(string(f[1]))
	seq, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil || file < 0 || file > 10000 || seq < 0 {
		c.malformed++
		if c.firstBad == "" {
			c.firstBad = string(line[:min(len(line), 80)])
		}
		return
	}
	for len(c.counts) <= file {
		c.counts = append(c.counts, nil)
	}
	s := c.counts[file]
	if seq >= len(s) {
		s = append(s, make([]uint8, seq+1-len(s)+1024)...)
		c.counts[file] = s
	}
	if s[seq] < 255 {
		s[seq]++
	}
}

// count returns how many copies of (file, seq) were consumed.
func (c *consumer) count(k [2]int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.countLocked(k)
}

func (c *consumer) countLocked(k [2]int) int {
	if k[0] >= len(c.counts) || k[1] >= len(c.counts[k[0]]) {
		return 0
	}
	return int(c.counts[k[0]][k[1]])
}

// caughtUp reports whether every partition was consumed up to hw.
func (c *consumer) caughtUp(hw map[int]int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, end := range hw {
		if c.pos[p] < end {
			return false
		}
	}
	return true
}

// tally compares the consumed records with the ledger (lines allocated per
// file): missing lines (split into excused and not) and duplicate copies.
func (c *consumer) tally(written []int, excused func([2]int) bool) (missing, missingExcused, dups int, first string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for file, n := range written {
		for seq := range n {
			k := [2]int{file, seq}
			switch n := c.countLocked(k); {
			case n == 0 && excused(k):
				missingExcused++
			case n == 0:
				if missing == 0 {
					first = fmt.Sprintf("file %d seq %d", file, seq)
				}
				missing++
			case n > 1:
				dups += n - 1
			}
		}
	}
	return missing, missingExcused, dups, first
}

// bad returns the number of records not in the writer's format and the
// first of them.
func (c *consumer) bad() (int64, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.malformed, c.firstBad
}

// dump writes every line Kafka holds other than exactly once as
// "file seq copies" (for a failed run's work dir).
func (c *consumer) dump(path string, written []int) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	defer bw.Flush()
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(bw, "# file\tseq\tcopies")
	for file, n := range written {
		for seq := range n {
			if k := c.countLocked([2]int{file, seq}); k != 1 {
				fmt.Fprintf(bw, "%d\t%d\t%d\n", file, seq, k)
			}
		}
	}
}
