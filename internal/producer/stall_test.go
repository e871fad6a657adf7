package producer

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/segmentio/kafka-go"
)

// TestRepartitionGonePartition (F34): a topic recreated with fewer
// partitions. Records queued for partition 3 of a topic that now has 2 can
// never be stored there; they move to partition 3 mod 2 and are
// acknowledged there — never dropped, never stuck.
func TestRepartitionGonePartition(t *testing.T) {
	fb := &fakeBroker{}
	var stored []int
	p, _ := newTestProducer(t, fb, Options{Delivered: func(_ *Record, md RecordMetadata) { stored = append(stored, md.Partition) }})
	p.produceFn = func(ctx context.Context, req *kafka.ProduceRequest) (*kafka.ProduceResponse, error) {
		if req.Partition >= 2 {
			return &kafka.ProduceResponse{Error: kafka.UnknownTopicOrPartition}, nil
		}
		return fb.produce(ctx, req)
	}
	p.partCounts["t"] = partitionCount{n: 2, fetched: time.Now().Add(time.Hour)} // the recreated topic's count
	b := checkpoint.NewBudget(1 << 20)
	tr := checkpoint.NewTracker(0, b)
	if err := b.Acquire(t.Context(), 30); err != nil {
		t.Fatal(err)
	}
	if err := p.Append("t", 3, trackedRecords(tr, payload(10, 0), payload(20, 1))); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	if len(fb.log) != 2 || !slices.Equal(stored, []int{1, 1}) || tr.Pending() != 0 || b.InUse() != 0 {
		t.Fatalf("stored %d records in partitions %v, pending %d, budget %d; want 2 in [1 1], 0, 0", len(fb.log), stored, tr.Pending(), b.InUse())
	}
}

// TestStalledNamesTopic: records for a topic the cluster does not know wait
// (never dropped) and Stalled names the topic and its partition once they
// made no progress for the given time; a topic that flows is not named.
func TestStalledNamesTopic(t *testing.T) {
	fb := &fakeBroker{}
	p, _ := newTestProducer(t, fb, Options{})
	p.produceFn = func(ctx context.Context, req *kafka.ProduceRequest) (*kafka.ProduceResponse, error) {
		if req.Topic == "gone" {
			return &kafka.ProduceResponse{Error: kafka.UnknownTopicOrPartition}, nil
		}
		return fb.produce(ctx, req)
	}
	tr := checkpoint.NewTracker(0, nil)
	if err := p.Append("gone", 0, trackedRecords(tr, payload(10, 0), payload(20, 1))); err != nil {
		t.Fatal(err)
	}
	tr2 := checkpoint.NewTracker(0, nil)
	if err := p.Append("ok", 0, trackedRecords(tr2, payload(10, 2))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var got []TopicStall
	for {
		got = p.Stalled(50 * time.Millisecond)
		if len(got) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != 1 || got[0].Topic != "gone" || !slices.Equal(got[0].Partitions, []int{0}) || got[0].Records != 2 {
		t.Fatalf("Stalled = %+v, want topic gone, partition 0, 2 records", got)
	}
	if tr2.Pending() != 0 {
		t.Fatal("the flowing topic's record is not acknowledged")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if left := p.Close(ctx); left != 2 || tr.Pending() != 2 {
		t.Fatalf("Close left %d records, tracker pending %d; want 2 2 (waiting, not dropped)", left, tr.Pending())
	}
}

// TestRepartitionIntoDrainedQueue: records moved during Close into a
// partition whose sender has already drained and returned start a new
// sender there; they are delivered, not stranded until the shutdown
// timeout.
func TestRepartitionIntoDrainedQueue(t *testing.T) {
	fb := &fakeBroker{}
	var mu sync.Mutex
	var stored []int
	p, _ := newTestProducer(t, fb, Options{Delivered: func(_ *Record, md RecordMetadata) {
		mu.Lock()
		stored = append(stored, md.Partition)
		mu.Unlock()
	}})
	drained := func(tp topicPartition) bool {
		p.mu.Lock()
		q := p.queues[tp]
		p.mu.Unlock()
		if q == nil {
			return false
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.drained
	}
	p.produceFn = func(ctx context.Context, req *kafka.ProduceRequest) (*kafka.ProduceResponse, error) {
		if req.Partition >= 2 {
			// Answer only once partition 1's sender has returned.
			deadline := time.Now().Add(10 * time.Second)
			for !drained(topicPartition{"t", 1}) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			return &kafka.ProduceResponse{Error: kafka.UnknownTopicOrPartition}, nil
		}
		return fb.produce(ctx, req)
	}
	p.partCounts["t"] = partitionCount{n: 2, fetched: time.Now().Add(time.Hour)}
	tr := checkpoint.NewTracker(0, nil)
	recs := trackedRecords(tr, payload(10, 0), payload(20, 1), payload(30, 2))
	if err := p.Append("t", 1, recs[:1]); err != nil {
		t.Fatal(err)
	}
	if err := p.Append("t", 3, recs[1:]); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(stored, []int{1, 1, 1}) || tr.Pending() != 0 {
		t.Fatalf("stored in partitions %v, pending %d; want [1 1 1], 0", stored, tr.Pending())
	}
}
