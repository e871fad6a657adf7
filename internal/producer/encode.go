package producer

import (
	"io"

	"github.com/segmentio/kafka-go"
)

// encodeScratch is a sender's reusable kafka-go view of one request: the
// record slice and the key and value readers. One request is in flight per
// partition, so after a successful produce the next request reuses them.
type encodeScratch struct {
	rr         recordReader
	vals, keys []bytesValue
}

// kafkaRecords is the encode stage: the records of one produce request as
// kafka-go reads them, built in s (nil: fresh). It allocates nothing per
// record, and nothing at all once s has grown to the batch size. kafka-go
// encodes each record as it reads it.
func kafkaRecords(recs []Record, s *encodeScratch) kafka.RecordReader {
	if s == nil {
		s = new(encodeScratch)
	}
	n := len(recs)
	s.rr.next = 0
	s.rr.records = grow(s.rr.records, n)
	s.vals = grow(s.vals, n)
	for i := range recs {
		r := &recs[i]
		s.vals[i] = bytesValue{b: r.Value}
		s.rr.records[i] = kafka.Record{Time: r.Time, Headers: r.Headers, Value: &s.vals[i]}
		if r.Key != nil {
			if len(s.keys) != n {
				s.keys = grow(s.keys, n)
			}
			s.keys[i] = bytesValue{b: r.Key}
			s.rr.records[i].Key = &s.keys[i]
		}
	}
	return &s.rr
}

// grow returns s resized to n elements (zeroed), reusing its array when it
// is large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// recordReader hands out the records of one produce request in order.
type recordReader struct {
	records []kafka.Record
	next    int
}

// ReadRecord implements kafka.RecordReader.
func (r *recordReader) ReadRecord() (*kafka.Record, error) {
	if r.next == len(r.records) {
		return nil, io.EOF
	}
	r.next++
	return &r.records[r.next-1], nil
}

// bytesValue is a record key or value as kafka-go's Bytes: a reader over a
// slice the record owns. WriteTo lets io.Copy move it in one write.
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
