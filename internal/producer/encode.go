package producer

import (
	"fmt"
	"runtime"
	"sync"

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
	return set, n, nil
}

// encoderPool holds the producer's idle record-batch encoders: their
// uncompressed-records scratch (about one batch) and compressor state (up
// to a few MiB for zstd) serve every partition's sender in turn, instead of
// one set per partition. An encoder is taken only for the synchronous
// encode, so the pool grows to the number of senders encoding at once,
// and keeps at most GOMAXPROCS of them.
type encoderPool struct {
	codec kafka.Compression
	mu    sync.Mutex
	free  []*recordbatch.Encoder
}

func (ep *encoderPool) get() (*recordbatch.Encoder, error) {
	ep.mu.Lock()
	if n := len(ep.free); n > 0 {
		e := ep.free[n-1]
		ep.free[n-1] = nil
		ep.free = ep.free[:n-1]
		ep.mu.Unlock()
		return e, nil
	}
	ep.mu.Unlock()
	e, err := recordbatch.NewEncoder(ep.codec)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return e, nil
}

func (ep *encoderPool) put(e *recordbatch.Encoder) {
	ep.mu.Lock()
	if len(ep.free) < runtime.GOMAXPROCS(0) {
		ep.free = append(ep.free, e)
	}
	ep.mu.Unlock()
}
