package producer

import (
	"fmt"

	"github.com/logship/logship/internal/recordbatch"
	"github.com/segmentio/kafka-go"
)

// encodeScratch is a sender's encode state: its record-batch encoder, whose
// scratch buffer and compressor serve every batch of the partition, and the
// array of the last batch sent. One request is in flight per partition, so
// after a successful produce the next batch is encoded into the same array.
// After a failed produce kafka-go may still be copying the abandoned
// request's batch on its connection goroutine: abandon gives that array up
// for good, and the retry is encoded into a new one, so no batch bytes are
// ever shared between an abandoned request and a later one.
type encodeScratch struct {
	enc *recordbatch.Encoder
	buf []byte
}

// abandon leaves the current batch array to the request that holds it.
func (s *encodeScratch) abandon() {
	s.buf = nil
}

// encode is the encode stage: the record set (size and one v2 record batch
// compressed with codec) of recs for one produce request, written straight
// from the records' bytes into s's array. It allocates nothing per record,
// and nothing at all once the array has grown to the batch size. The bytes
// stay valid until the next encode or abandon.
func (s *encodeScratch) encode(codec kafka.Compression, recs []Record) ([]byte, error) {
	if s.enc == nil {
		enc, err := recordbatch.NewEncoder(codec)
		if err != nil {
			return nil, fmt.Errorf("producer: %w", err)
		}
		s.enc = enc
	}
	s.enc.Begin(s.buf, recordbatch.NoProducer)
	for i := range recs {
		r := &recs[i]
		s.enc.Append(r.Key, r.Value, r.Headers, r.Time)
	}
	set, err := s.enc.Finish()
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	s.buf = set
	return set, nil
}

// records is the number of records in the last encoded batch.
func (s *encodeScratch) records() int {
	return s.enc.Len()
}
