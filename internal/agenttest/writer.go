package agenttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Writer is the ground truth of the end-to-end tests: it appends
// "<file_id> <seq> <payload>\n" lines to N files (app-NN.log) and keeps the
// ledger of what it wrote. Its methods are safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	paths []string
	files []*os.File
	next  []int // next sequence number per file
	// Payload is the payload of every line (one byte repeated).
	Payload string
}

// NewWriter creates n files in dir with payloadLen-byte payloads; they are
// closed when the test ends.
func NewWriter(t testing.TB, dir string, n, payloadLen int) *Writer {
	t.Helper()
	w := &Writer{Payload: strings.Repeat("x", payloadLen)}
	t.Cleanup(func() {
		for _, f := range w.files {
			f.Close()
		}
	})
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
	return w
}

// Paths returns the files' paths, file i at index i.
func (w *Writer) Paths() []string { return append([]string(nil), w.paths...) }

// Write appends n lines to file i in one write call; a failed write is
// reported with t.Errorf (it may run on the Run goroutine).
func (w *Writer) Write(t testing.TB, i, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := make([]byte, 0, n*(len(w.Payload)+16))
	for range n {
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(w.next[i]), 10)
		buf = append(buf, ' ')
		buf = append(buf, w.Payload...)
		buf = append(buf, '\n')
		w.next[i]++
	}
	if _, err := w.files[i].Write(buf); err != nil {
		t.Errorf("writer: %v", err)
	}
}

// Run writes rate lines per second spread over all files until ctx is done
// or the test ends; the returned channel is closed when it has stopped.
func (w *Writer) Run(t testing.TB, ctx context.Context, rate int) <-chan struct{} {
	const tick = 10 * time.Millisecond
	per := max(rate/int(time.Second/tick)/len(w.files), 1)
	return Tick(t, ctx, tick, func(time.Time) {
		for i := range w.files {
			w.Write(t, i, per)
		}
	})
}

// Tick calls fn with the tick's time every interval, on its own goroutine,
// until ctx is done or the test ends (the test's cleanup waits for it); the
// returned channel is closed once it has stopped. It is the loop of every
// ground-truth writer that writes at a rate.
func Tick(t testing.TB, ctx context.Context, interval time.Duration, fn func(now time.Time)) <-chan struct{} {
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { cancel(); <-done })
	// Exits when ctx is done or the test ends.
	go func() {
		defer close(done)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tk.C:
				fn(now)
			}
		}
	}()
	return done
}

// Written returns the ledger: lines written per file.
func (w *Writer) Written() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.next...)
}

// Total is the number of lines written to all files.
func (w *Writer) Total() int {
	n := 0
	for _, c := range w.Written() {
		n += c
	}
	return n
}
