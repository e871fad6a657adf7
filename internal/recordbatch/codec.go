package recordbatch

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go"
)

// compressor appends the compressed form of src to dst. Its state is kept
// from call to call.
type compressor interface {
	compress(dst, src []byte) ([]byte, error)
}

func newCompressor(codec Codec) (compressor, error) {
	switch codec {
	case 0:
		return nil, nil
	case kafka.Gzip:
		return &streamCompressor{w: gzip.NewWriter(nil)}, nil
	case kafka.Snappy:
		return snappyCompressor{}, nil
	case kafka.Lz4:
		w := lz4.NewWriter(nil)
		// 64 KiB blocks, the Java client's size: pierrec/lz4's default of
		// 4 MiB held about 5 MiB per writer. No content checksum, as the
		// Java client and librdkafka write their frames (the batch has its
		// CRC-32C; xxhash32 over every batch was 2.5% of the agent's CPU).
		// One goroutine: the sender compresses itself.
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false), lz4.ConcurrencyOption(1)); err != nil {
			return nil, fmt.Errorf("recordbatch: lz4 writer: %w", err)
		}
		return &streamCompressor{w: w}, nil
	case kafka.Zstd:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
		if err != nil {
			return nil, fmt.Errorf("recordbatch: zstd encoder: %w", err)
		}
		return zstdCompressor{enc}, nil
	default:
		return nil, fmt.Errorf("recordbatch: unknown compression codec %d", codec)
	}
}

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// streamCompressor compresses each batch with a reusable stream writer:
// gzip (one gzip member per batch) or LZ4 (one LZ4 frame per batch: the
// standard frame format (KIP-57: the header checksum covers the descriptor
// only), which Kafka requires for magic 1 and later, with independent 64 KiB
// blocks and no content checksum).
type streamCompressor struct {
	w   resettableWriter
	out appendWriter
}

// resettableWriter is a compressing writer that can start a new stream on
// another io.Writer: *gzip.Writer and *lz4.Writer.
type resettableWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

func (c *streamCompressor) compress(dst, src []byte) ([]byte, error) {
	c.out.b = dst
	c.w.Reset(&c.out)
	_, err := c.w.Write(src)
	if cerr := c.w.Close(); err == nil {
		err = cerr
	}
	dst, c.out.b = c.out.b, nil
	return dst, err
}

// zstdCompressor writes one zstd frame per batch (with its content size, which
// librdkafka uses to size its output).
type zstdCompressor struct{ enc *zstd.Encoder }

func (c zstdCompressor) compress(dst, src []byte) ([]byte, error) {
	return c.enc.EncodeAll(src, dst), nil
}

// snappyCompressor writes the xerial framing that the Java client
// (snappy-java's SnappyOutputStream) writes and that the Java client,
// librdkafka and kafka-go read: a 16-byte header (magic, version 1,
// compatible version 1), then blocks of at most 32 KiB of input, each a
// big-endian int32 length and a raw snappy block.
type snappyCompressor struct{}

// xerialBlock is snappy-java's default block size.
const xerialBlock = 32 << 10

var xerialHeader = [16]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

func (snappyCompressor) compress(dst, src []byte) ([]byte, error) {
	dst = append(dst, xerialHeader[:]...)
	for len(src) > 0 {
		chunk := src[:min(len(src), xerialBlock)]
		src = src[len(chunk):]
		at := len(dst)
		dst = grow(dst, 4+snappy.MaxEncodedLen(len(chunk)))[:at+4]
		enc := snappy.Encode(dst[at+4:cap(dst)], chunk)
		binary.BigEndian.PutUint32(dst[at:], uint32(len(enc)))
		dst = dst[:at+4+len(enc)]
	}
	return dst, nil
}

// grow makes room for n more bytes in b's array, keeping len(b).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	return append(b[:cap(b)], make([]byte, n)...)[:len(b)]
}

// zstdWindow bounds the zstd encoder's history: with the default window of
// its level one encoder kept 19 MiB, with 256 KiB 2.6 MiB (1 MiB batches of
// log lines compress to the same size). Decoders accept any window.
const zstdWindow = 256 << 10
