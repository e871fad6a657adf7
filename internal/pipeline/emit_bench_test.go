package pipeline

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/tailer"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
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

// benchProducer is a Producer whose partition queues exist without sender
// goroutines, so Append accumulates and the benchmark drains the batches.
func benchProducer(b *testing.B, topic string, parts int) *Producer {
	p, err := NewProducer(ProducerOptions{Brokers: []string{"127.0.0.1:1"}, Acks: kafka.RequireAll, MetadataRefresh: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	p.partCounts[topic] = partitionCount{n: parts, fetched: time.Now()}
	for i := range parts {
		tp := topicPartition{topic, i}
		p.queues[tp] = &partitionQueue{tp: tp, wake: make(chan struct{}, 1)}
	}
	return p
}

// drain takes every batch out of the queues and releases it, as the
// senders do once a batch is acknowledged, and returns the number of
// records.
func drain(p *Producer) int {
	n := 0
	for _, q := range p.queues {
		q.mu.Lock()
		batches := q.sealed
		if q.open != nil {
			batches = append(batches, q.open)
		}
		q.open, q.sealed = nil, nil
		q.mu.Unlock()
		for _, bt := range batches {
			n += len(bt.records)
			q.recycle(bt)
		}
	}
	return n
}

// BenchmarkEmit is the record stage: one op is one Emit of a 64 KiB read
// (327 lines): build records (key, serialize), partition, and append them to
// the partitions' open batches.
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
			prod := benchProducer(b, "t", 3)
			pipe, err := New(tc.pc, "host-1", prod, nil, nil)
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
			for i := 0; b.Loop(); i++ {
				if err := pipe.Emit(ctx, src, lines); err != nil {
					b.Fatal(err)
				}
				if i%16 == 15 {
					drain(prod)
				}
			}
			runtime.ReadMemStats(&m1)
			perLine := float64(b.N * len(lines))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perLine, "ns/line")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/perLine, "allocs/line")
		})
	}
}

// BenchmarkEncodeBatch is the encode stage: one op turns a full batch
// (1 MiB of 200-byte records) into kafka-go records and writes the v2
// record batch, lz4-compressed, as the produce request does.
func BenchmarkEncodeBatch(b *testing.B) {
	lines := benchLines()
	recs := make([]Record, 0, 5300)
	for len(recs) < cap(recs) {
		for i := range lines {
			if len(recs) == cap(recs) {
				break
			}
			recs = append(recs, Record{Value: lines[i].Data, Time: time.Now()})
		}
	}
	for _, tc := range []struct {
		name string
		c    kafka.Compression
	}{{"lz4", kafka.Lz4}, {"none", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			var scratch encodeScratch
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			b.SetBytes(int64(len(recs) * 200))
			b.ReportAllocs()
			for b.Loop() {
				rs := &protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(tc.c), Records: kafkaRecords(recs, &scratch)}
				if _, err := rs.WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&m1)
			perRec := float64(b.N * len(recs))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perRec, "ns/record")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/perRec, "allocs/record")
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
