package producer

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/recordbatch"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// TestAbandonedRequestSharesNoEncodeState forces the interleaving of a
// request kafka-go abandoned after an error (its connection goroutine still
// copying the batch) with the next request: the first request fails after
// a few bytes of its batch were read, the batch is split in halves, and the
// abandoned request reads the rest of its bytes while the first half is in
// flight. The abandoned batch must still be intact (CRC and records), the
// halves must carry every record, and only records the broker stored may be
// acknowledged.
func TestAbandonedRequestSharesNoEncodeState(t *testing.T) {
	t.Parallel()
	fb := &fakeBroker{}
	retryStarted, abandonedDone := make(chan struct{}), make(chan struct{})
	calls := 0
	var abandoned []kafka.Record
	var abandonedErr error
	p, _ := newTestProducer(t, fb, Options{})
	p.produceFn = func(ctx context.Context, req *kafka.RawProduceRequest) (*kafka.ProduceResponse, error) {
		calls++
		switch calls {
		case 1:
			head := make([]byte, 16)
			if _, err := io.ReadFull(req.RawRecords.Reader, head); err != nil {
				t.Errorf("first request: %v", err)
			}
			// The abandoned request keeps reading once the next one is built.
			go func() {
				defer close(abandonedDone)
				<-retryStarted
				rest, err := io.ReadAll(req.RawRecords.Reader)
				if err != nil {
					abandonedErr = err
					return
				}
				abandoned, _, abandonedErr = decodeRecordSet(bytes.NewReader(append(head, rest...)))
			}()
			return nil, kafka.InvalidRecord // the batch is split in halves
		case 2:
			close(retryStarted)
			select {
			case <-abandonedDone:
			case <-time.After(10 * time.Second):
				t.Error("abandoned request did not finish")
			}
		}
		return fb.produce(ctx, req)
	}
	tr := checkpoint.NewTracker(0, nil)
	vals := [][]byte{payload(10, 0), payload(10, 1), payload(10, 2), payload(10, 3)}
	recs := trackedRecords(tr, vals...)
	var delivered int
	p.opts.Delivered = func(*Record, RecordMetadata) { delivered++ }
	if err := p.Append("t", 0, recs); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	if abandonedErr != nil || len(abandoned) != 4 {
		t.Fatalf("abandoned batch overwritten by the next request: %d records, %v", len(abandoned), abandonedErr)
	}
	for i, r := range abandoned {
		if !bytes.Equal(readAll(r.Value), vals[i]) {
			t.Fatalf("abandoned batch record %d changed", i)
		}
	}
	if len(fb.log) != 4 || delivered != 4 || tr.Pending() != 0 {
		t.Fatalf("broker stored %d records, %d delivered, %d pending; want 4 stored and delivered", len(fb.log), delivered, tr.Pending())
	}
}

// TestAckOnlyRecordsInRequest: a successful response acknowledges exactly
// the records its batch carried, each at base offset plus its index: with
// the batches cut into chunks under a learned limit, every delivered
// offset holds that record in the broker's log, and as many records were
// acknowledged as the decoded batches held.
func TestAckOnlyRecordsInRequest(t *testing.T) {
	t.Parallel()
	fb := &fakeBroker{limit: 300}
	p, _ := newTestProducer(t, fb, Options{})
	offsets := map[string]int64{}
	p.opts.Delivered = func(r *Record, md RecordMetadata) { offsets[string(r.Value)] = md.Offset }
	tr := checkpoint.NewTracker(0, nil)
	var vals [][]byte
	for i := range 12 {
		vals = append(vals, payload(40, byte(i)))
	}
	if err := p.Append("t", 0, trackedRecords(tr, vals...)); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	if len(fb.log) != len(vals) || tr.Pending() != 0 || len(offsets) != len(vals) {
		t.Fatalf("broker stored %d records, %d delivered, %d pending; want %d stored", len(fb.log), len(offsets), tr.Pending(), len(vals))
	}
	if len(fb.bytes) < 2 {
		t.Fatalf("%d accepted batches: the limit did not cut the records into chunks", len(fb.bytes))
	}
	for i, v := range vals {
		off, ok := offsets[string(v)]
		if !ok || string(readAll(fb.log[off].Value)) != string(v) {
			t.Fatalf("record %d: delivered %v at offset %d, which holds another record", i, ok, off)
		}
	}
}

// TestCodecsRoundTrip: with each compression codec, what the producer sends
// decodes (kafka-go's reader, CRC checked) to the records byte for byte:
// keys nil or not, headers, timestamps to the millisecond, and the batch
// says its codec.
func TestCodecsRoundTrip(t *testing.T) {
	for _, c := range []kafka.Compression{0, kafka.Gzip, kafka.Snappy, kafka.Lz4, kafka.Zstd} {
		name := "none"
		if c != 0 {
			name = c.String()
		}
		t.Run(name, func(t *testing.T) {
			fb := &fakeBroker{}
			p, _ := newTestProducer(t, fb, Options{Compression: c})
			var codecs []kafka.Compression
			p.produceFn = func(ctx context.Context, req *kafka.RawProduceRequest) (*kafka.ProduceResponse, error) {
				set, err := io.ReadAll(req.RawRecords.Reader)
				if err != nil {
					return nil, err
				}
				var rs protocol.RecordSet
				if _, err := rs.ReadFrom(bytes.NewReader(set)); err != nil {
					return nil, err
				}
				codecs = append(codecs, rs.Attributes.Compression())
				req.RawRecords.Reader = bytes.NewReader(set)
				return fb.produce(ctx, req)
			}
			t0 := time.UnixMilli(1_700_000_000_000)
			tr := checkpoint.NewTracker(0, nil)
			recs := trackedRecords(tr, payload(100, 1), bytes.Repeat([]byte("compressible "), 10000), []byte{})
			recs[0].Key = nil
			recs[1].Headers = []kafka.Header{{Key: "logship.file", Value: []byte("/var/log/a.log")}, {Key: "empty", Value: []byte{}}}
			for i := range recs {
				recs[i].Time = t0.Add(time.Duration(i) * time.Millisecond)
			}
			want := append([]Record(nil), recs...)
			if err := p.Append("t", 0, recs); err != nil {
				t.Fatal(err)
			}
			closeProducer(t, p)
			if len(fb.log) != len(want) {
				t.Fatalf("broker stored %d records, want %d", len(fb.log), len(want))
			}
			for _, got := range codecs {
				if got != c {
					t.Fatalf("batch codec %d, want %d", got, c)
				}
			}
			for i, w := range want {
				g := fb.log[i]
				if k := readAll(g.Key); (g.Key == nil) != (w.Key == nil) || !bytes.Equal(k, w.Key) {
					t.Fatalf("record %d: key %q (nil %v), want %q", i, k, g.Key == nil, w.Key)
				}
				if !bytes.Equal(readAll(g.Value), w.Value) || !g.Time.Equal(w.Time) || len(g.Headers) != len(w.Headers) {
					t.Fatalf("record %d: value, time %v or %d headers differ", i, g.Time, len(g.Headers))
				}
				for j, h := range w.Headers {
					if g.Headers[j].Key != h.Key || !bytes.Equal(g.Headers[j].Value, h.Value) {
						t.Fatalf("record %d header %d: %q=%q", i, j, g.Headers[j].Key, g.Headers[j].Value)
					}
				}
			}
		})
	}
}

// TestEncoderPoolBounded: senders share GOMAXPROCS encoders (the one put
// back is the next one taken); a sender waits while all are in use, and an
// encoder that cannot be created gives its slot back.
func TestEncoderPoolBounded(t *testing.T) {
	ep := newEncoderPool(kafka.Zstd, 1<<20)
	e, err := ep.get()
	if err != nil {
		t.Fatal(err)
	}
	ep.put(e)
	var taken []*recordbatch.Encoder
	for range runtime.GOMAXPROCS(0) {
		e, err := ep.get()
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, e)
	}
	if !slices.Contains(taken, e) {
		t.Fatal("the idle encoder was not reused")
	}
	got := make(chan *recordbatch.Encoder)
	go func() { // exits once an encoder is put back below
		e, _ := ep.get()
		got <- e
	}()
	select {
	case <-got:
		t.Fatal("a sender got an encoder while all were in use")
	case <-time.After(50 * time.Millisecond):
	}
	ep.put(taken[0])
	select {
	case e := <-got:
		if e != taken[0] {
			t.Fatal("the waiting sender did not get the encoder put back")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting sender did not get the encoder put back")
	}
	bad := newEncoderPool(7, 1<<20)
	for range cap(bad.slots) + 1 {
		if _, err := bad.get(); err == nil {
			t.Fatal("unknown codec accepted")
		}
	}
}

// TestNewRejectsUnknownCodec: a codec the encoder does not know is refused
// at New, not on the first batch (where it would be retried forever).
func TestNewRejectsUnknownCodec(t *testing.T) {
	_, err := New(Options{Brokers: []string{"127.0.0.1:1"}, Acks: kafka.RequireAll, Compression: 5})
	if err == nil {
		t.Fatal("New accepted compression codec 5")
	}
}

// TestOversizeBatchNotRetained: the array of a batch far over batch_bytes
// (an oversize record's first attempt) is not kept by the sender for its
// next batch; a normal batch's array is.
func TestOversizeBatchNotRetained(t *testing.T) {
	p, _ := newTestProducer(t, &fakeBroker{}, Options{BatchBytes: 4096})
	defer closeProducer(t, p)
	var s encodeScratch
	if _, _, err := p.encode(&s, []Record{{Value: payload(100, 1)}}); err != nil {
		t.Fatal(err)
	}
	if s.buf == nil {
		t.Fatal("a normal batch's array was not kept")
	}
	if _, _, err := p.encode(&s, []Record{{Value: payload(64<<10, 1)}}); err != nil {
		t.Fatal(err)
	}
	if s.buf != nil {
		t.Fatalf("a batch array of %d bytes was kept under batch_bytes 4096", cap(s.buf))
	}
}
