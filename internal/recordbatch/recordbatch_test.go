package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

var codecs = []struct {
	name  string
	codec Codec
}{{"none", 0}, {"gzip", kafka.Gzip}, {"snappy", kafka.Snappy}, {"lz4", kafka.Lz4}, {"zstd", kafka.Zstd}}

// rec is a record as the tests build and compare it.
type rec struct {
	key, value []byte
	headers    []kafka.Header
	time       time.Time
}

// decoded is one record read back by kafka-go.
type decoded struct {
	offset     int64
	key, value []byte
	headers    []kafka.Header
	time       time.Time
}

// decode reads a record set with kafka-go's own reader (which checks the
// CRC-32C) and returns its records and attributes.
func decode(t testing.TB, set []byte) ([]decoded, protocol.Attributes) {
	t.Helper()
	var rs protocol.RecordSet
	n, err := rs.ReadFrom(bytes.NewReader(set))
	if err != nil {
		t.Fatalf("kafka-go cannot read the batch: %v", err)
	}
	if n != int64(len(set)) {
		t.Fatalf("kafka-go read %d of %d bytes", n, len(set))
	}
	if rs.Records == nil {
		t.Fatal("kafka-go read no records")
	}
	var out []decoded
	for {
		r, err := rs.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kafka-go record %d: %v", len(out), err)
		}
		out = append(out, decoded{offset: r.Offset, key: readBytes(t, r.Key), value: readBytes(t, r.Value),
			headers: append([]kafka.Header(nil), r.Headers...), time: r.Time})
	}
	return out, rs.Attributes
}

func readBytes(t testing.TB, b protocol.Bytes) []byte {
	if b == nil {
		return nil
	}
	out, err := protocol.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if out == nil {
		out = []byte{}
	}
	return out
}

func encode(t testing.TB, e *Encoder, p Producer, recs []rec) []byte {
	t.Helper()
	e.Begin(nil, p)
	for _, r := range recs {
		e.Append(r.key, r.value, r.headers, r.time)
	}
	b, err := e.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compare checks that got holds recs byte for byte: nil and empty keys,
// values and header values kept apart, offsets 0..n-1, times to the
// millisecond.
func compare(t testing.TB, recs []rec, got []decoded) {
	t.Helper()
	if len(got) != len(recs) {
		t.Fatalf("decoded %d records, want %d", len(got), len(recs))
	}
	for i, w := range recs {
		g := got[i]
		if g.offset != int64(i) {
			t.Fatalf("record %d: offset %d", i, g.offset)
		}
		if !sameBytes(g.key, w.key) || !sameBytes(g.value, w.value) {
			t.Fatalf("record %d: key %q (nil %v) value %d bytes (nil %v), want key %q (nil %v) value %d bytes (nil %v)",
				i, g.key, g.key == nil, len(g.value), g.value == nil, w.key, w.key == nil, len(w.value), w.value == nil)
		}
		if g.time.UnixMilli() != w.time.UnixMilli() {
			t.Fatalf("record %d: time %v, want %v", i, g.time, w.time)
		}
		if len(g.headers) != len(w.headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(g.headers), len(w.headers))
		}
		for j := range w.headers {
			if g.headers[j].Key != w.headers[j].Key || !sameBytes(g.headers[j].Value, w.headers[j].Value) {
				t.Fatalf("record %d header %d: %q=%q, want %q=%q", i, j, g.headers[j].Key, g.headers[j].Value,
					w.headers[j].Key, w.headers[j].Value)
			}
		}
	}
}

// sameBytes is bytes.Equal that also tells nil from empty.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// header is the batch header as written, read independently of kafka-go.
type header struct {
	baseOffset      int64
	length          int32
	leaderEpoch     int32
	magic           int8
	crc             uint32
	attributes      int16
	lastOffsetDelta int32
	baseTs, maxTs   int64
	producer        Producer
	count           int32
}

func parseHeader(t testing.TB, set []byte) (header, []byte) {
	t.Helper()
	if len(set) < sizePrefix+HeaderSize {
		t.Fatalf("record set of %d bytes", len(set))
	}
	be := binary.BigEndian
	if size := be.Uint32(set); int(size) != len(set)-sizePrefix {
		t.Fatalf("record set size %d, want %d", size, len(set)-sizePrefix)
	}
	b := set[sizePrefix:]
	return header{
		baseOffset:      int64(be.Uint64(b)),
		length:          int32(be.Uint32(b[offLength:])),
		leaderEpoch:     int32(be.Uint32(b[offLeaderEpoch:])),
		magic:           int8(b[offMagic]),
		crc:             be.Uint32(b[offCRC:]),
		attributes:      int16(be.Uint16(b[offAttributes:])),
		lastOffsetDelta: int32(be.Uint32(b[offLastOffsetDelta:])),
		baseTs:          int64(be.Uint64(b[offBaseTimestamp:])),
		maxTs:           int64(be.Uint64(b[offMaxTimestamp:])),
		producer: Producer{ID: int64(be.Uint64(b[offProducerID:])), Epoch: int16(be.Uint16(b[offProducerEpoch:])),
			BaseSequence: int32(be.Uint32(b[offBaseSequence:]))},
		count: int32(be.Uint32(b[offRecordCount:])),
	}, b
}

func sampleRecords() []rec {
	t0 := time.UnixMilli(1_700_000_000_123)
	big := bytes.Repeat([]byte("0123456789abcdef log line that compresses "), 3000) // over one 32/64 KiB block
	return []rec{
		{key: nil, value: []byte("no key"), time: t0},
		{key: []byte{}, value: []byte("empty key"), time: t0.Add(-5 * time.Millisecond)}, // negative delta
		{key: []byte("k"), value: []byte{}, time: t0.Add(time.Hour)},                     // empty value, max ts
		{key: []byte("k2"), value: nil, time: t0.Add(time.Second)},                       // null value
		{key: []byte("k3"), value: []byte("with headers"), time: t0, headers: []kafka.Header{
			{Key: "logship.file", Value: []byte("/var/log/app.log")},
			{Key: "", Value: []byte{}},
			{Key: "null", Value: nil},
		}},
		{key: nil, value: big, time: t0.Add(2 * time.Millisecond)},
		{key: bytes.Repeat([]byte{0xff}, 300), value: []byte("binary key, two-byte varint"), time: t0},
	}
}

// newEncoder returns an encoder for codec, failing the test when there is
// none.
func newEncoder(tb testing.TB, codec Codec) *Encoder {
	tb.Helper()
	e, err := NewEncoder(codec)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// TestRoundTrip: every codec's batch is read back by kafka-go (CRC-32C
// checked) with each record byte for byte, and the header fields are as
// specified (base offset 0, epoch -1, magic 2, codec bits, deltas,
// timestamps, producer fields -1 or as given).
func TestRoundTrip(t *testing.T) {
	recs := sampleRecords()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			e := newEncoder(t, c.codec)
			for _, p := range []Producer{NoProducer, {ID: 4711, Epoch: 3, BaseSequence: 1 << 20}} {
				set := encode(t, e, p, recs)
				got, attrs := decode(t, set)
				compare(t, recs, got)
				if attrs.Compression() != c.codec {
					t.Fatalf("kafka-go reads codec %d, want %d", attrs.Compression(), c.codec)
				}
				h, b := parseHeader(t, set)
				want := header{baseOffset: 0, length: int32(len(b) - 12), leaderEpoch: -1, magic: 2,
					crc:        crc32.Checksum(b[offAttributes:], crc32.MakeTable(crc32.Castagnoli)),
					attributes: int16(c.codec), lastOffsetDelta: int32(len(recs) - 1),
					baseTs: recs[0].time.UnixMilli(), maxTs: recs[2].time.UnixMilli(), producer: p, count: int32(len(recs))}
				if h != want {
					t.Fatalf("header %+v\nwant   %+v", h, want)
				}
				if c.codec != 0 && len(set) > len(recs[5].value) {
					t.Fatalf("compressed batch of %d bytes is larger than its biggest value", len(set))
				}
			}
		})
	}
}

// TestCorruptionDetected: flipping any byte covered by the CRC makes
// kafka-go reject the batch, so the CRC really covers attributes..end.
func TestCorruptionDetected(t *testing.T) {
	e := newEncoder(t, 0)
	set := encode(t, e, NoProducer, sampleRecords()[:3])
	value := bytes.Index(set, []byte("empty key"))
	for _, at := range []int{sizePrefix + offBaseTimestamp + 7, sizePrefix + offProducerID + 7, value + 3} {
		bad := bytes.Clone(set)
		bad[at] ^= 0x01
		var rs protocol.RecordSet
		if _, err := rs.ReadFrom(bytes.NewReader(bad)); err == nil || !bytes.Contains([]byte(err.Error()), []byte("crc32")) {
			t.Fatalf("byte %d flipped: kafka-go read it (err %v)", at, err)
		}
	}
}

// TestReuse: batches of different sizes and codecs' state carried over
// do not leak records from one batch into the next, and Begin writes
// into the caller's array.
func TestReuse(t *testing.T) {
	recs := sampleRecords()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			e := newEncoder(t, c.codec)
			buf := make([]byte, 0, 1<<20)
			for _, n := range []int{len(recs), 1, 3, len(recs)} {
				e.Begin(buf, NoProducer)
				for _, r := range recs[:n] {
					e.Append(r.key, r.value, r.headers, r.time)
				}
				if e.Len() != n {
					t.Fatalf("Len %d, want %d", e.Len(), n)
				}
				set, err := e.Finish()
				if err != nil {
					t.Fatal(err)
				}
				if &set[0] != &buf[:1][0] {
					t.Fatal("batch not written into the caller's array")
				}
				got, _ := decode(t, set)
				compare(t, recs[:n], got)
			}
		})
	}
}

// TestShrink: a scratch buffer grown by a large batch is dropped by Shrink
// under its size and kept over it; batches still encode afterwards.
func TestShrink(t *testing.T) {
	e := newEncoder(t, kafka.Lz4)
	recs := sampleRecords()
	encode(t, e, NoProducer, recs)
	grown := cap(e.raw)
	e.Shrink(grown)
	if cap(e.raw) != grown {
		t.Fatalf("Shrink(%d) dropped a scratch of %d bytes", grown, grown)
	}
	e.Shrink(grown - 1)
	if e.raw != nil {
		t.Fatalf("Shrink(%d) kept a scratch of %d bytes", grown-1, grown)
	}
	got, _ := decode(t, encode(t, e, NoProducer, recs))
	compare(t, recs, got)
}

// TestEmptyAndUnbegun: an empty batch and Finish without Begin are errors,
// not batches the broker would reject.
func TestEmptyAndUnbegun(t *testing.T) {
	e := newEncoder(t, kafka.Lz4)
	if _, err := e.Finish(); err == nil {
		t.Fatal("Finish without Begin succeeded")
	}
	e.Begin(nil, NoProducer)
	if _, err := e.Finish(); err == nil {
		t.Fatal("empty batch finished")
	}
	if _, err := NewEncoder(9); err == nil {
		t.Fatal("unknown codec accepted")
	}
}

// TestZeroTime: a record without a time gets the batch's current time, as
// kafka-go gives it.
func TestZeroTime(t *testing.T) {
	e := newEncoder(t, 0)
	before := time.Now().UnixMilli()
	got, _ := decode(t, encode(t, e, NoProducer, []rec{{value: []byte("a")}, {value: []byte("b")}}))
	after := time.Now().UnixMilli()
	for i, g := range got {
		if ms := g.time.UnixMilli(); ms < before || ms > after {
			t.Fatalf("record %d: time %d outside [%d, %d]", i, ms, before, after)
		}
	}
}

// TestAppendAllocatesNothing: in steady state a batch allocates nothing per
// record, and at most lz4's per-frame bookkeeping per batch (pierrec/lz4
// allocates a frame data block and boxes two pool puts per frame; the
// other codecs allocate nothing).
func TestAppendAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	recs := sampleRecords()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			e := newEncoder(t, c.codec)
			var buf []byte
			batch := func() {
				e.Begin(buf, NoProducer)
				for range 20 {
					for _, r := range recs {
						e.Append(r.key, r.value, r.headers, r.time)
					}
				}
				set, err := e.Finish()
				if err != nil {
					t.Fatal(err)
				}
				buf = set
			}
			batch()
			batch()
			limit := 0.0
			if c.codec == kafka.Lz4 {
				limit = 3
			}
			if a := testing.AllocsPerRun(20, batch); a > limit {
				t.Fatalf("%v allocations per batch of %d records, want at most %v", a, 20*len(recs), limit)
			}
		})
	}
}

func ExampleEncoder() {
	e, _ := NewEncoder(kafka.Lz4)
	e.Begin(nil, NoProducer)
	e.Append(nil, []byte("a log line"), []kafka.Header{{Key: "host", Value: []byte("web-7")}}, time.UnixMilli(0))
	set, _ := e.Finish()
	fmt.Println(set[sizePrefix+offMagic], e.Len())
	// Output: 2 1
}
