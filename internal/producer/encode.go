package producer

import (
	"io"

	"github.com/segmentio/kafka-go"
)

// encodeScratch is a sender's reusable kafka-go view of its requests. One
// request is in flight per partition, so after a successful produce the
// next request reuses the reader of the last one. After a failed produce
// kafka-go may still be encoding the abandoned request on its connection
// goroutine: abandon gives that reader up for good, and the retry gets a
// new one, so no slice, cursor or value reader is ever shared between an
// abandoned request and its retry.
type encodeScratch struct {
	rr *recordReader
}

// abandon leaves the current reader to the request that holds it.
func (s *encodeScratch) abandon() {
	if s != nil {
		s.rr = nil
	}
}

// kafkaRecords is the encode stage: the records of one produce request as
// kafka-go reads them, built in s's reader (nil s: a fresh one). It
// allocates nothing per record, and nothing at all once the reader has
// grown to the batch size. kafka-go encodes each record as it reads it.
func kafkaRecords(recs []Record, s *encodeScratch) *recordReader {
	var rr *recordReader
	if s != nil {
		rr = s.rr
	}
	if rr == nil {
		rr = new(recordReader)
		if s != nil {
			s.rr = rr
		}
	}
	n := len(recs)
	rr.next = 0
	rr.records = grow(rr.records, n)
	rr.vals = grow(rr.vals, n)
	for i := range recs {
		r := &recs[i]
		rr.vals[i] = bytesValue{b: r.Value}
		rr.records[i] = kafka.Record{Time: r.Time, Headers: r.Headers, Value: &rr.vals[i]}
		if r.Key != nil {
			if len(rr.keys) != n {
				rr.keys = grow(rr.keys, n)
			}
			rr.keys[i] = bytesValue{b: r.Key}
			rr.records[i].Key = &rr.keys[i]
		}
	}
	return rr
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

// recordReader hands out the records of one produce request in order. It
// owns the value and key readers of those records. next counts the records
// the encoder has read: the records the request carried.
type recordReader struct {
	records    []kafka.Record
	vals, keys []bytesValue
	next       int
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
