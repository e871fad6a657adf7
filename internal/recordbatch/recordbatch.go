// Package recordbatch encodes Kafka record batches (message format v2,
// magic 2) for a produce request: the batch header, the records with their
// zig-zag varints and headers, one of the five compression codecs, and the
// CRC-32C. The records are written straight from their key, value and header
// bytes into one buffer per batch; an Encoder keeps its scratch buffer and
// compressor state from batch to batch, so encoding allocates nothing per
// record once its buffers have grown to the batch size.
//
// The output is what kafka-go's protocol.RawRecordSet sends: a 4-byte size
// followed by one record batch.
package recordbatch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
	"time"

	"github.com/segmentio/kafka-go"
)

// Codec is a compression codec, numbered as in the batch attributes (and as
// kafka.Compression): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
type Codec = kafka.Compression

// Producer is the idempotent-producer state written in the batch header.
// NoProducer (all -1) is a batch of a non-idempotent producer.
type Producer struct {
	ID           int64
	Epoch        int16
	BaseSequence int32
}

// NoProducer marks a batch sent without idempotence.
var NoProducer = Producer{ID: -1, Epoch: -1, BaseSequence: -1}

// Offsets in a record batch, counted from the start of the batch (after the
// 4-byte size that precedes it in a produce request).
const (
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57
	// HeaderSize is the size of the batch header, before the records.
	HeaderSize = 61
	// sizePrefix is the record-set size that precedes the batch.
	sizePrefix = 4
)

// castagnoli is the CRC-32C table; hash/crc32 uses the CPU's CRC32
// instructions for it where they exist.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encoder builds one record batch at a time: Begin, Append for each record,
// Finish. It is not safe for concurrent use: one caller holds it at a time.
type Encoder struct {
	codec Codec
	comp  compressor // nil for none

	// dst is the batch being built (size prefix, header, records). For a
	// compressed batch the records go to raw and are compressed into dst
	// by Finish.
	dst []byte
	raw []byte

	n             int32
	baseTs, maxTs int64
	now           int64 // timestamp for records without one, read once per batch
	producer      Producer
	begun         bool
}

// NewEncoder returns an Encoder for codec. Compressor state is created here
// and reused by every batch.
func NewEncoder(codec Codec) (*Encoder, error) {
	comp, err := newCompressor(codec)
	if err != nil {
		return nil, err
	}
	return &Encoder{codec: codec, comp: comp}, nil
}

// Codec returns the encoder's compression codec.
func (e *Encoder) Codec() Codec { return e.codec }

// Begin starts a batch that is appended to dst[:0]; dst may be nil. The
// Encoder writes into dst's array until Finish returns it; it keeps no
// reference afterwards, so the caller decides when the array may be reused.
func (e *Encoder) Begin(dst []byte, p Producer) {
	e.dst = append(dst[:0], make([]byte, sizePrefix+HeaderSize)...)
	e.raw = e.raw[:0]
	e.n = 0
	e.now = 0
	e.producer = p
	e.begun = true
}

// Len returns the number of records appended since Begin.
func (e *Encoder) Len() int { return int(e.n) }

// Append adds one record. A nil key or value is written as null (length
// -1), an empty one as empty; the same holds for header values. A zero t
// is replaced by the time of the batch's first such record, as kafka-go does.
func (e *Encoder) Append(key, value []byte, headers []kafka.Header, t time.Time) {
	var ts int64
	if t.IsZero() {
		if e.now == 0 {
			e.now = time.Now().UnixMilli()
		}
		ts = e.now
	} else {
		ts = t.UnixMilli()
	}
	if e.n == 0 {
		e.baseTs, e.maxTs = ts, ts
	} else if ts > e.maxTs {
		e.maxTs = ts
	}
	tsDelta, offDelta := ts-e.baseTs, int64(e.n)
	length := 1 + varintLen(tsDelta) + varintLen(offDelta) +
		nullBytesLen(key) + nullBytesLen(value) + varintLen(int64(len(headers)))
	for i := range headers {
		length += varintLen(int64(len(headers[i].Key))) + len(headers[i].Key) + nullBytesLen(headers[i].Value)
	}
	b := e.dst
	if e.comp != nil {
		b = e.raw
	}
	b = binary.AppendVarint(b, int64(length))
	b = append(b, 0) // record attributes (unused)
	b = binary.AppendVarint(b, tsDelta)
	b = binary.AppendVarint(b, offDelta)
	b = appendNullBytes(b, key)
	b = appendNullBytes(b, value)
	b = binary.AppendVarint(b, int64(len(headers)))
	for i := range headers {
		b = binary.AppendVarint(b, int64(len(headers[i].Key)))
		b = append(b, headers[i].Key...)
		b = appendNullBytes(b, headers[i].Value)
	}
	if e.comp != nil {
		e.raw = b
	} else {
		e.dst = b
	}
	e.n++
}

// Finish compresses the records, fills in the header and CRC, and returns
// the record set: the 4-byte size and the batch, in the array given to
// Begin (or a larger one). It returns an error for an empty batch or when
// the compressor fails; the batch is then discarded.
func (e *Encoder) Finish() ([]byte, error) {
	if !e.begun {
		return nil, fmt.Errorf("recordbatch: finish without begin")
	}
	e.begun = false
	if e.n == 0 {
		return nil, fmt.Errorf("recordbatch: empty batch")
	}
	b := e.dst
	e.dst = nil
	if e.comp != nil {
		var err error
		if b, err = e.comp.compress(b, e.raw); err != nil {
			return nil, fmt.Errorf("recordbatch: compress %d bytes with codec %d: %w", len(e.raw), e.codec, err)
		}
	}
	h := b[sizePrefix:]
	be := binary.BigEndian
	be.PutUint32(b[:sizePrefix], uint32(len(h)))
	be.PutUint64(h[0:], 0) // base offset, assigned by the broker
	be.PutUint32(h[offLength:], uint32(len(h)-offLeaderEpoch))
	be.PutUint32(h[offLeaderEpoch:], 0xffffffff) // -1: set by the broker
	h[offMagic] = 2
	be.PutUint16(h[offAttributes:], uint16(e.codec)&0x7) // create time, not transactional
	be.PutUint32(h[offLastOffsetDelta:], uint32(e.n-1))
	be.PutUint64(h[offBaseTimestamp:], uint64(e.baseTs))
	be.PutUint64(h[offMaxTimestamp:], uint64(e.maxTs))
	be.PutUint64(h[offProducerID:], uint64(e.producer.ID))
	be.PutUint16(h[offProducerEpoch:], uint16(e.producer.Epoch))
	be.PutUint32(h[offBaseSequence:], uint32(e.producer.BaseSequence))
	be.PutUint32(h[offRecordCount:], uint32(e.n))
	be.PutUint32(h[offCRC:], crc32.Checksum(h[offAttributes:], castagnoli))
	return b, nil
}

// Shrink drops the encoder's scratch buffer when its capacity exceeds max
// bytes (after an unusually large batch), so an idle encoder does not keep
// the largest batch it ever saw.
func (e *Encoder) Shrink(max int) {
	if cap(e.raw) > max {
		e.raw = nil
	}
}

// varintLen is the size of v as a zig-zag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}

func nullBytesLen(b []byte) int {
	if b == nil {
		return 1 // varint -1
	}
	return varintLen(int64(len(b))) + len(b)
}

func appendNullBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
