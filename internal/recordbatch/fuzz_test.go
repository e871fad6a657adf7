package recordbatch

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// FuzzEncoder encodes records built from the fuzz input with every codec
// and reads them back with kafka-go's decoder (CRC-32C checked); the
// records must come back byte for byte. The input is cut into records at
// 0x00 bytes; within a record, the bytes before the first 0x01 form the
// key (none: nil key) and after a 0x02 a header value, and flags choose
// nil values and timestamps before the base.
func FuzzEncoder(f *testing.F) {
	f.Add([]byte("key\x01value\x00\x01\x00just a value\x02hv"), uint8(0), int64(1_700_000_000_000))
	f.Add([]byte{}, uint8(0xff), int64(0))
	f.Add([]byte("\x00\x00\x00"), uint8(0x55), int64(-1))
	encoders := make([]*Encoder, len(codecs))
	for i, c := range codecs {
		e := newEncoder(f, c.codec)
		encoders[i] = e
	}
	f.Fuzz(func(t *testing.T, data []byte, flags uint8, ms int64) {
		ms = ms % (1 << 42) // times kafka-go's time.Time round-trips
		if ms < 0 {
			ms = -ms
		}
		var recs []rec
		for i, part := range splitAll(data, 0) {
			r := rec{value: part, time: time.UnixMilli(ms - int64(i%3)*int64(flags))}
			if k, v, ok := cut(r.value, 1); ok {
				r.key, r.value = k, v
			}
			if v, hv, ok := cut(r.value, 2); ok {
				r.value = v
				r.headers = []kafka.Header{{Key: string(hv), Value: hv}, {Key: "n"}}
			}
			if flags&(1<<(i%8)) != 0 && len(r.value) == 0 {
				r.value = nil
			}
			recs = append(recs, r)
		}
		for _, e := range encoders {
			got, _ := decode(t, encode(t, e, NoProducer, recs))
			compare(t, recs, got)
		}
	})
}

// splitAll cuts b at every sep; each part is a new, non-nil slice.
func splitAll(b []byte, sep byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == sep {
			out = append(out, append([]byte{}, b[start:i]...))
			start = i + 1
		}
	}
	return out
}

// cut splits b at the first sep.
func cut(b []byte, sep byte) (before, after []byte, ok bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}
