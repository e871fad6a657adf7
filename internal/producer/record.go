// Package producer is logship's Kafka producer: the accumulator (one open
// batch per topic-partition, sealed on size or linger), the background
// senders that retry each batch until the broker returns RecordMetadata,
// the oversize and dead-letter policies, broker authentication and the
// readiness probe. It knows nothing about files: a Record carries a
// checkpoint.Ack, and every Ack is resolved exactly once, after the broker
// acknowledged the record or through an explicit, counted drop policy.
package producer

import (
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/segmentio/kafka-go"
)

// Record is one Kafka record on its way from a file to the broker. The
// accumulator owns it from Append until its Ack is resolved.
type Record struct {
	Key     []byte
	Value   []byte
	Headers []kafka.Header
	// Time is when the line was read; it becomes the record timestamp and
	// the start of the ack-latency measurement.
	Time time.Time
	// Ack is resolved exactly once by the sender.
	Ack checkpoint.Ack
}

// size is the budget-free estimate of the record's bytes in a batch, used to
// keep batches under batch_bytes (record overhead included).
func (r *Record) size() int {
	n := len(r.Key) + len(r.Value) + recordOverhead
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 8
	}
	return n
}

// recordOverhead bounds the per-record framing of the v2 record format
// (length, attributes, timestamp and offset deltas, key/value lengths, header count).
const recordOverhead = 24

// RecordMetadata is what the broker returned for an acknowledged record.
type RecordMetadata struct {
	Topic     string
	Partition int
	Offset    int64
}
