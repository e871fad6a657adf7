package producer

import (
	"bytes"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
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

// benchBatch is a full batch: 1 MiB of 200-byte records, each with the
// source identity headers the agent adds by default.
func benchBatch() []Record {
	read := benchRecords()
	recs := make([]Record, 0, 5300)
	for len(recs) < cap(recs) {
		recs = append(recs, read[:min(len(read), cap(recs)-len(recs))]...)
	}
	for i := range recs {
		recs[i].Headers = []kafka.Header{
			{Key: "logship.source", Value: []byte("2049:1835011:1733456789")},
			{Key: "logship.offset", Value: []byte(strconv.Itoa(1_000_000 + 201*i))},
		}
	}
	return recs
}

var benchCodecs = []struct {
	name string
	c    kafka.Compression
}{{"none", 0}, {"gzip", kafka.Gzip}, {"snappy", kafka.Snappy}, {"lz4", kafka.Lz4}, {"zstd", kafka.Zstd}}

// BenchmarkEncodeBatch is the encode stage: one op turns a full batch
// (benchBatch) into the v2 record set of a produce request, with each codec,
// by the sender's own encoder (logship) and by kafka-go's RecordSet writer
// (kafka-go, what the producer used before, with its 64 KiB lz4 blocks).
func BenchmarkEncodeBatch(b *testing.B) {
	recs := benchBatch()
	for _, tc := range benchCodecs {
		b.Run(tc.name+"/logship", func(b *testing.B) {
			var s encodeScratch
			p := &Producer{encoders: newEncoderPool(tc.c, 1<<20)}
			benchEncode(b, recs, func() int64 {
				set, _, err := p.encode(&s, recs)
				if err != nil {
					b.Fatal(err)
				}
				n, err := (&protocol.RawRecordSet{Reader: bytes.NewReader(set)}).WriteTo(io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				return n
			})
		})
		b.Run(tc.name+"/kafka-go", func(b *testing.B) {
			var rr recordReader
			benchEncode(b, recs, func() int64 {
				rs := &protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(tc.c), Records: rr.reset(recs)}
				n, err := rs.WriteTo(io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				return n
			})
		})
	}
}

// benchEncode runs encode, which returns the size of the record set, and
// reports per record: time, allocated bytes and objects, and wire bytes.
func benchEncode(b *testing.B, recs []Record, encode func() int64) {
	var m0, m1 runtime.MemStats
	var wire int64
	for range 2 * runtime.GOMAXPROCS(0) { // every pooled encoder and buffer grown
		wire = encode()
	}
	runtime.ReadMemStats(&m0)
	b.SetBytes(int64(len(recs) * 200))
	b.ReportAllocs()
	for b.Loop() {
		encode()
	}
	runtime.ReadMemStats(&m1)
	perRec := float64(b.N * len(recs))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perRec, "ns/record")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/perRec, "B/record")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/perRec, "allocs/record")
	b.ReportMetric(float64(wire)/float64(len(recs)), "wire-B/record")
}

// recordReader hands kafka-go the records of one request, as the producer
// did before it encoded batches itself: the comparison in
// BenchmarkEncodeBatch.
type recordReader struct {
	records    []kafka.Record
	vals, keys []bytesValue
	next       int
}

func (r *recordReader) reset(recs []Record) *recordReader {
	n := len(recs)
	r.next = 0
	r.records = slices.Grow(r.records[:0], n)[:n]
	r.vals = slices.Grow(r.vals[:0], n)[:n]
	r.keys = slices.Grow(r.keys[:0], n)[:n]
	for i := range recs {
		rec := &recs[i]
		r.vals[i] = bytesValue{b: rec.Value}
		r.records[i] = kafka.Record{Time: rec.Time, Headers: rec.Headers, Value: &r.vals[i]}
		if rec.Key != nil {
			r.keys[i] = bytesValue{b: rec.Key}
			r.records[i].Key = &r.keys[i]
		}
	}
	return r
}

func (r *recordReader) ReadRecord() (*kafka.Record, error) {
	if r.next == len(r.records) {
		return nil, io.EOF
	}
	r.next++
	return &r.records[r.next-1], nil
}

// bytesValue is a record key or value as kafka-go's Bytes.
type bytesValue struct {
	b   []byte
	off int
}

func (v *bytesValue) Len() int     { return len(v.b) - v.off }
func (v *bytesValue) Close() error { return nil }

func (v *bytesValue) Read(p []byte) (int, error) {
	if v.off >= len(v.b) {
		return 0, io.EOF
	}
	n := copy(p, v.b[v.off:])
	v.off += n
	return n, nil
}

func (v *bytesValue) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(v.b[v.off:])
	v.off += n
	return int64(n), err
}

// lz4Codec is the lz4 codec the producer installed in kafka-go's codec
// table before it encoded batches itself (64 KiB blocks, pooled writers),
// so the kafka-go side of BenchmarkEncodeBatch measures what logship ran.
type lz4Codec struct{}

var lz4Writers sync.Pool // of *lz4.Writer with 64 KiB blocks

func (lz4Codec) Code() int8                          { return int8(compress.Lz4) }
func (lz4Codec) Name() string                        { return "lz4" }
func (lz4Codec) NewReader(r io.Reader) io.ReadCloser { return compress.Lz4Codec.NewReader(r) }

func (lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := lz4Writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		_ = z.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
	} else {
		z.Reset(w)
	}
	return &lz4Writer{z}
}

type lz4Writer struct{ *lz4.Writer }

func (w *lz4Writer) Close() error {
	err := w.Writer.Close()
	w.Writer.Reset(nil)
	lz4Writers.Put(w.Writer)
	return err
}

func init() { compress.Codecs[compress.Lz4] = lz4Codec{} }
