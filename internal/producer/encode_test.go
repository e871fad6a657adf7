package producer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/segmentio/kafka-go"
)

// TestAbandonedRequestSharesNoEncodeState forces the interleaving of a
// request kafka-go abandoned after an error (its connection goroutine still
// encoding it) with the retry: the first request fails after one record was
// read, and the abandoned encoder reads the rest of its records while the
// retry is in flight. The retry must still carry every record, and only
// records the broker stored may be acknowledged.
func TestAbandonedRequestSharesNoEncodeState(t *testing.T) {
	fb := &fakeBroker{}
	retryStarted, abandonedDone := make(chan struct{}), make(chan struct{})
	calls := 0
	p, _ := newTestProducer(t, fb, Options{})
	p.produceFn = func(ctx context.Context, req *kafka.ProduceRequest) (*kafka.ProduceResponse, error) {
		calls++
		switch calls {
		case 1:
			if _, err := req.Records.ReadRecord(); err != nil {
				t.Errorf("first request: %v", err)
			}
			// The abandoned encoder keeps reading once the retry is built.
			go func() {
				defer close(abandonedDone)
				<-retryStarted
				for {
					r, err := req.Records.ReadRecord()
					if err != nil {
						return
					}
					readAll(r.Value)
				}
			}()
			return nil, &netErr{}
		case 2:
			close(retryStarted)
			select {
			case <-abandonedDone:
			case <-time.After(10 * time.Second):
				t.Error("abandoned encoder did not finish")
			}
		}
		return fb.produce(ctx, req)
	}
	tr := checkpoint.NewTracker(0, nil)
	recs := trackedRecords(tr, payload(10, 0), payload(10, 1), payload(10, 2), payload(10, 3))
	var delivered int
	p.opts.Delivered = func(*Record, RecordMetadata) { delivered++ }
	if err := p.Append("t", 0, recs); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	if len(fb.log) != 4 || delivered != 4 || tr.Pending() != 0 {
		t.Fatalf("broker stored %d records, %d delivered, %d pending; want 4 stored and delivered", len(fb.log), delivered, tr.Pending())
	}
}

// shortReader is an encoder that stops after n records.
func shortProduce(fb *fakeBroker, n int) func(context.Context, *kafka.ProduceRequest) (*kafka.ProduceResponse, error) {
	return func(ctx context.Context, req *kafka.ProduceRequest) (*kafka.ProduceResponse, error) {
		req.Records = &limitReader{r: req.Records, n: n}
		return fb.produce(ctx, req)
	}
}

type limitReader struct {
	r kafka.RecordReader
	n int
}

func (l *limitReader) ReadRecord() (*kafka.Record, error) {
	if l.n == 0 {
		return nil, errors.New("limit reached")
	}
	l.n--
	return l.r.ReadRecord()
}

// TestAckOnlyRecordsInRequest: a successful response acknowledges only the
// records the request actually carried (read from its RecordReader); the
// others are sent again, never resolved on the strength of the base offset.
func TestAckOnlyRecordsInRequest(t *testing.T) {
	fb := &fakeBroker{}
	p, _ := newTestProducer(t, fb, Options{})
	p.produceFn = shortProduce(fb, 2)
	offsets := map[string]int64{}
	p.opts.Delivered = func(r *Record, md RecordMetadata) { offsets[string(r.Value)] = md.Offset }
	tr := checkpoint.NewTracker(0, nil)
	vals := [][]byte{payload(10, 0), payload(10, 1), payload(10, 2), payload(10, 3), payload(10, 4)}
	if err := p.Append("t", 0, trackedRecords(tr, vals...)); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	if len(fb.log) != 5 || tr.Pending() != 0 {
		t.Fatalf("broker stored %d records, %d pending; want 5 stored", len(fb.log), tr.Pending())
	}
	for i, v := range vals {
		off, ok := offsets[string(v)]
		if !ok || string(readAll(fb.log[off].Value)) != string(v) {
			t.Fatalf("record %d: delivered %v at offset %d, which holds another record", i, ok, off)
		}
	}
}
