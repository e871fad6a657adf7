//go:build compare

package compare

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nxadm/tail"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/tailer"
)

// workload is one rename-rotation scenario.
type workload struct {
	name      string
	duration  time.Duration
	rate      int           // lines per second
	rotateEvy time.Duration // rename app.log → app.log.N and create a new app.log
	oldFdFor  time.Duration // the writer keeps writing to the renamed file this long
	perLine   time.Duration // consumer cost per line (0: as fast as it can); 100 lines at a time
}

// received counts lines by sequence number; safe for concurrent use.
type received struct {
	mu     sync.Mutex
	counts map[int]int
	total  int
}

func (r *received) add(line []byte) {
	f := bytes.SplitN(line, []byte(" "), 2)
	seq, err := strconv.Atoi(string(f[0]))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if err == nil {
		r.counts[seq]++
	}
}

func (r *received) n() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// pace charges the consumer's per-line cost, 100 lines at a time.
func pace(w workload, n *int) {
	if w.perLine == 0 {
		return
	}
	if *n++; *n%100 == 0 {
		time.Sleep(100 * w.perLine) // simulated processing cost (the workload, not a wait)
	}
}

// reader starts consuming path and returns a stop function.
type reader func(t *testing.T, path string, w workload, got *received) (stop func())

func nxadmTail(t *testing.T, path string, w workload, got *received) func() {
	tf, err := tail.TailFile(path, tail.Config{Follow: true, ReOpen: true, CompleteLines: true, Logger: tail.DiscardingLogger})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	// Exits when tf.Lines is closed by Stop.
	go func() {
		defer close(done)
		n := 0
		for l := range tf.Lines {
			if l.Err == nil {
				got.add([]byte(l.Text))
			}
			pace(w, &n)
		}
	}()
	return func() {
		_ = tf.Stop()
		<-done
	}
}

// ackSink acknowledges every line at once (a perfect broker) after paying
// the workload's per-line cost. It is one consumer: Emit calls from the
// readers of several file generations are serialised.
type ackSink struct {
	w   workload
	got *received
	mu  sync.Mutex
	n   int
}

func (s *ackSink) Emit(_ context.Context, _ *tailer.Source, lines []tailer.Line) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lines {
		s.got.add(l.Data)
		l.Ack.Done()
		pace(s.w, &s.n)
	}
	return nil
}

func logship(t *testing.T, path string, w workload, got *received) func() {
	tl, err := tailer.New(tailer.Options{
		Pipeline: config.Pipeline{Name: "compare", Paths: []string{path}, RescanInterval: 250 * time.Millisecond,
			CloseInactive: time.Second},
		Budget: checkpoint.NewBudget(8 << 20),
		Sink:   &ackSink{w: w, got: got},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Exits when ctx is cancelled by the stop function.
	go func() { done <- tl.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// run drives w against one reader and returns lines written, lost and
// duplicated.
func run(t *testing.T, w workload, rd reader) (written, lost, dups int) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	got := &received{counts: map[int]int{}}
	stop := rd(t, path, w, got)

	seq := 0
	writeLines := func(f *os.File, n int) {
		var b bytes.Buffer
		for range n {
			fmt.Fprintf(&b, "%d %s\n", seq, "payload-payload-payload-payload")
			seq++
		}
		if _, err := f.Write(b.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	const tick = 10 * time.Millisecond
	per := w.rate / int(time.Second/tick)
	tk := time.NewTicker(tick)
	end := time.Now().Add(w.duration)
	nextRotate := time.Now().Add(w.rotateEvy)
	var reopenAt time.Time
	for k := 1; time.Now().Before(end); {
		now := <-tk.C
		if !reopenAt.IsZero() && !now.Before(reopenAt) {
			f.Close()
			if f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
				t.Fatal(err)
			}
			reopenAt = time.Time{}
		}
		if !now.Before(nextRotate) && reopenAt.IsZero() {
			if err := os.Rename(path, fmt.Sprintf("%s.%d", path, k)); err != nil {
				t.Fatal(err)
			}
			nf, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			nf.Close()
			k++
			nextRotate = now.Add(w.rotateEvy)
			reopenAt = now.Add(w.oldFdFor)
		}
		writeLines(f, per)
	}
	tk.Stop()
	f.Close()
	written = seq

	// Wait until every line arrived, or until nothing arrived for 3 s
	// (a reader that lost lines never completes), with an overall bound.
	deadline := time.Now().Add(2 * time.Minute)
	last, lastChange := -1, time.Now()
	for time.Now().Before(deadline) {
		n := got.n()
		if n >= written {
			break
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 3*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling interval of the completion check
	}
	stop()
	got.mu.Lock()
	defer got.mu.Unlock()
	for s := range written {
		switch c := got.counts[s]; {
		case c == 0:
			lost++
		case c > 1:
			dups += c - 1
		}
	}
	return written, lost, dups
}

// TestCompareRenameRotation prints, for each workload, the lines lost and
// duplicated by nxadm/tail and by logship's tailer. logship must lose
// nothing and duplicate nothing; nxadm/tail's figures are reported, not
// asserted (they are the evidence for not depending on it).
func TestCompareRenameRotation(t *testing.T) {
	workloads := []workload{
		{name: "immediate-reopen", duration: 6 * time.Second, rate: 10_000, rotateEvy: 500 * time.Millisecond, oldFdFor: 10 * time.Millisecond},
		{name: "fast-consumer", duration: 6 * time.Second, rate: 10_000, rotateEvy: 500 * time.Millisecond, oldFdFor: 300 * time.Millisecond},
		{name: "lagging-consumer", duration: 6 * time.Second, rate: 10_000, rotateEvy: 500 * time.Millisecond, oldFdFor: 300 * time.Millisecond,
			perLine: 150 * time.Microsecond},
	}
	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			tw, tl, td := run(t, w, nxadmTail)
			lw, ll, ld := run(t, w, logship)
			t.Logf("%s: nxadm/tail v1.4.11 lost %d of %d lines (%.1f%%), %d duplicates; logship lost %d of %d (%.1f%%), %d duplicates",
				w.name, tl, tw, 100*float64(tl)/float64(tw), td, ll, lw, 100*float64(ll)/float64(lw), ld)
			if ll != 0 || ld != 0 {
				t.Errorf("logship lost %d and duplicated %d lines", ll, ld)
			}
		})
	}
}
