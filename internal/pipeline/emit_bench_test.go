package pipeline

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/producer"
	"github.com/logship/logship/internal/tailer"
)

// benchLines is one 64 KiB read of 200-byte lines, as the tailer hands them
// to Emit (zero Acks: resolving them is the checkpoint package's business).
func benchLines() []tailer.Line {
	line := []byte("0000000042 0000000000000000000 level=INFO svc=checkout host=web-7 req=9f3a0c2e81d4b6f0 " +
		"path=/api/v1/cart/items status=200 dur_ms=12 msg=\"request served cache miss upstream latency ok\"")
	line = append(line, bytes.Repeat([]byte{'x'}, 199-len(line))...)
	n := (64 << 10) / (len(line) + 1)
	lines := make([]tailer.Line, n)
	for i := range lines {
		lines[i] = tailer.Line{Data: line, End: int64(i+1) * int64(len(line)+1)}
	}
	return lines
}

// discard is a Producer that takes and forgets records, so BenchmarkEmit
// measures the record stage alone (the producer's Append has its own
// benchmark).
type discard struct{ parts int }

func (d discard) Partitions(context.Context, string) (int, error) { return d.parts, nil }
func (discard) Append(string, int, []producer.Record) error       { return nil }

// BenchmarkEmit is the record stage: one op is one Emit of a 64 KiB read
// (327 lines): build records (key, serialize, headers) and partition them.
func BenchmarkEmit(b *testing.B) {
	for _, tc := range []struct {
		name string
		pc   config.Pipeline
	}{
		{"raw key=none round_robin", config.Pipeline{Name: "b", Topic: "t", Key: "none", Partitioner: "round_robin", Serializer: "raw"}},
		{"raw key=host hash", config.Pipeline{Name: "b", Topic: "t", Key: "host", Partitioner: "hash", Serializer: "raw"}},
		{"json key=source hash", config.Pipeline{Name: "b", Topic: "t", Key: "source", Partitioner: "hash", Serializer: "json",
			Fields: map[string]string{"env": "prod"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			pipe, err := New(tc.pc, "host-1", "0123456789abcdef0123456789abcdef", discard{parts: 3}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			lines := benchLines()
			src := &tailer.Source{Pipeline: "b", Path: "/var/log/app/app.log"}
			ctx := context.Background()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			b.SetBytes(int64(len(lines) * (len(lines[0].Data) + 1)))
			b.ReportAllocs()
			for b.Loop() {
				if err := pipe.Emit(ctx, src, lines); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&m1)
			perLine := float64(b.N * len(lines))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perLine, "ns/line")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/perLine, "allocs/line")
		})
	}
}

// BenchmarkPartition is the partitioner stage, per record.
func BenchmarkPartition(b *testing.B) {
	key := []byte("/var/log/pods/ns_pod-7d9f_uid/app/0.log")
	for _, name := range []string{"hash", "round_robin"} {
		b.Run(name, func(b *testing.B) {
			part, _ := NewPartitioner(name, 0)
			k := key
			if name == "round_robin" {
				k = nil
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = part.Partition(k, 3)
			}
		})
	}
}

// BenchmarkSerializeRaw is the raw serializer stage, per 200-byte line.
func BenchmarkSerializeRaw(b *testing.B) {
	ser, _ := NewSerializer("raw")
	ev := &Event{Message: benchLines()[0].Data}
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(len(ev.Message)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = ser(buf[:0], ev)
	}
}
