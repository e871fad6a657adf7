package producer

import (
	"fmt"
	"runtime"

	"github.com/logship/logship/internal/recordbatch"
	"github.com/segmentio/kafka-go"
)

// encodeScratch is a sender's encode state: the array of the last batch it
// sent. One request is in flight per partition, so after a successful
// produce the next batch is encoded into the same array. After a failed
// produce kafka-go may still be copying the abandoned request's batch on
// its connection goroutine: abandon gives that array up for good, and the
// retry is encoded into a new one, so no batch bytes are ever shared
// between an abandoned request and a later one.
type encodeScratch struct {
	buf []byte
}

// abandon leaves the current batch array to the request that holds it.
func (s *encodeScratch) abandon() {
	s.buf = nil
}

// encode is the encode stage: the record set (size and one v2 record batch
// compressed with the producer's codec) of recs for one produce request,
// written straight from the records' bytes into s's array, and the number
// of records it holds. It allocates nothing per record, and nothing at all
// once the array and a pooled encoder have grown to the batch size. The
// bytes stay valid until s's next encode or abandon.
func (p *Producer) encode(s *encodeScratch, recs []Record) ([]byte, int, error) {
	enc, err := p.encoders.get()
	if err != nil {
		return nil, 0, err
	}
	defer p.encoders.put(enc)
	enc.Begin(s.buf, recordbatch.NoProducer)
	for i := range recs {
		r := &recs[i]
		enc.Append(r.Key, r.Value, r.Headers, r.Time)
	}
	n := enc.Len()
	set, err := enc.Finish()
	if err != nil {
		return nil, 0, fmt.Errorf("producer: %w", err)
	}
	s.buf = set
	if cap(set) > p.encoders.retain {
		s.buf = nil // an oversize record's batch: not kept for the next one
	}
	return set, n, nil
}

// encoderPool holds the producer's record-batch encoders: their
// uncompressed-records scratch (about one batch) and compressor state (up
// to a few MiB for zstd) serve every partition's sender in turn, instead of
// one set per partition. There are GOMAXPROCS of them, created on first
// use: encoding is CPU-bound, so more encoders would only add memory, and a
// sender that finds them all busy waits for one (encode holds one only for
// the synchronous encoding of one batch). Buffers over retain bytes (grown
// by an oversize record) are not kept.
type encoderPool struct {
	codec  kafka.Compression
	retain int
	slots  chan *recordbatch.Encoder // nil entries: not created yet
}

// newEncoderPool returns the pool for codec, keeping buffers of up to twice
// batchBytes (a batch plus its record framing).
func newEncoderPool(codec kafka.Compression, batchBytes int) *encoderPool {
	ep := &encoderPool{codec: codec, retain: 2 * batchBytes, slots: make(chan *recordbatch.Encoder, runtime.GOMAXPROCS(0))}
	for range cap(ep.slots) {
		ep.slots <- nil
	}
	return ep
}

// get takes an encoder, waiting while all are in use; put gives it back.
func (ep *encoderPool) get() (*recordbatch.Encoder, error) {
	e := <-ep.slots
	if e != nil {
		return e, nil
	}
	e, err := recordbatch.NewEncoder(ep.codec)
	if err != nil {
		ep.slots <- nil
		return nil, fmt.Errorf("producer: %w", err)
	}
	return e, nil
}

func (ep *encoderPool) put(e *recordbatch.Encoder) {
	e.Shrink(ep.retain)
	ep.slots <- e
}
