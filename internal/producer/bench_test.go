package producer

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// benchRecords is one 64 KiB read of 200-byte lines as records.
func benchRecords() []Record {
	line := []byte("0000000042 0000000000000000000 level=INFO svc=checkout host=web-7 req=9f3a0c2e81d4b6f0 " +
		"path=/api/v1/cart/items status=200 dur_ms=12 msg=\"request served cache miss upstream latency ok\"")
	line = append(line, bytes.Repeat([]byte{'x'}, 199-len(line))...)
	recs := make([]Record, (64<<10)/(len(line)+1))
	for i := range recs {
		recs[i] = Record{Value: line, Time: time.Now()}
	}
	return recs
}

// benchProducer is a Producer whose partition queues exist without sender
// goroutines, so Append accumulates and the benchmark drains the batches.
func benchProducer(b *testing.B, topic string, parts int) *Producer {
	p, err := New(Options{Brokers: []string{"127.0.0.1:1"}, Acks: kafka.RequireAll, MetadataRefresh: time.Hour})
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

// BenchmarkAppend is the accumulator stage: one op appends a 64 KiB read
// (327 records) to a partition's open batch, sealing batches at BatchBytes.
func BenchmarkAppend(b *testing.B) {
	p := benchProducer(b, "t", 1)
	recs := benchRecords()
	b.SetBytes(int64(len(recs) * 200))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := p.Append("t", 0, recs); err != nil {
			b.Fatal(err)
		}
		if i%16 == 15 {
			drain(p)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

// BenchmarkEncodeBatch is the encode stage: one op turns a full batch
// (1 MiB of 200-byte records) into kafka-go records and writes the v2
// record batch, lz4-compressed, as the produce request does.
func BenchmarkEncodeBatch(b *testing.B) {
	read := benchRecords()
	recs := make([]Record, 0, 5300)
	for len(recs) < cap(recs) {
		recs = append(recs, read[:min(len(read), cap(recs)-len(recs))]...)
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
