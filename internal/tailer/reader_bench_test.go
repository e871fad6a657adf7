package tailer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
)

// benchLine is a 200-byte log line (newline included), the size the
// side-by-side benchmark (bench/cmd/logship-bench) ships.
var benchLine = func() []byte {
	l := []byte("0000000042 0000000000000000000 level=INFO svc=checkout host=web-7 req=9f3a0c2e81d4b6f0 " +
		"path=/api/v1/cart/items status=200 dur_ms=12 msg=\"request served cache miss upstream latency ok\"")
	l = append(l, bytes.Repeat([]byte{'x'}, 199-len(l))...)
	return append(l, '\n')
}()

// BenchmarkSplitScan is the split stage alone: one 64 KiB read buffer of
// 200-byte lines cut into spans (no I/O, no copies).
func BenchmarkSplitScan(b *testing.B) {
	buf := bytes.Repeat(benchLine, DefaultReadBufferBytes/len(benchLine))
	s := splitter{max: int(config.DefaultMaxLineBytes)}
	spans := make([]span, 0, 512)
	lines := len(buf) / len(benchLine)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		spans, _, _ = s.scan(buf, 0, spans[:0])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}

// ackSink acknowledges every line as soon as it is emitted, so the
// benchmark measures the tailer alone: read, split, copy, tracker and
// budget bookkeeping, and the ack path back to the tracker.
type ackSink struct {
	want int64
	got  atomic.Int64
	once sync.Once
	done chan struct{}
}

func (s *ackSink) Emit(_ context.Context, _ *Source, lines []Line) error {
	for i := range lines {
		lines[i].Ack.Done()
	}
	if s.got.Add(int64(len(lines))) >= s.want {
		s.once.Do(func() { close(s.done) })
	}
	return nil
}

// BenchmarkReadSplitEmit is the tailer stage end to end on a real file: one
// op is one 200-byte line read from disk (page cache), split, copied into
// its Line, registered with the tracker and acknowledged.
func BenchmarkReadSplitEmit(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "app.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	chunk := bytes.Repeat(benchLine, 1000)
	for left := b.N; left > 0; left -= 1000 {
		n := min(left, 1000)
		if _, err := f.Write(chunk[:n*len(benchLine)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	sink := &ackSink{want: int64(b.N), done: make(chan struct{})}
	tl, err := New(Options{
		Pipeline: Settings{Name: "bench", Paths: []string{filepath.Join(dir, "*.log")}},
		Budget:   checkpoint.NewBudget(32 << 20),
		Sink:     sink,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	b.ResetTimer()
	go func() { errc <- tl.Run(ctx) }() // returns when ctx is cancelled
	<-sink.done
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	cancel()
	if err := <-errc; err != nil && ctx.Err() == nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "allocs/line")
}
