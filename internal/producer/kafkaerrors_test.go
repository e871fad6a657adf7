package producer

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	produceapi "github.com/segmentio/kafka-go/protocol/produce"
)

// TestErrorClassification: produce errors are classified by Kafka error
// code and by kafka-go's typed errors, never by their message: a partition
// missing from kafka-go's layout is a routing error whose request never
// left; a broker error that merely mentions "not found" is neither.
func TestErrorClassification(t *testing.T) {
	layout := func(e error) error { return fmt.Errorf("kafka.(*Client).Produce: %w", produceapi.NewError(e)) }
	for _, tc := range []struct {
		name           string
		err            error
		leader, stored bool
	}{
		{"no-leader-in-layout", layout(protocol.NewErrNoLeader("t", 3)), true, false},
		{"no-partition-in-layout", layout(protocol.NewErrNoPartition("t", 3)), true, false},
		{"no-topic-in-layout", layout(protocol.NewErrNoTopic("t")), true, false},
		{"not-leader", kafka.NotLeaderForPartition, true, true},
		{"leader-not-available", kafka.LeaderNotAvailable, true, false},
		{"unknown-topic", kafka.UnknownTopicOrPartition, true, false},
		{"below-min-isr", kafka.NotEnoughReplicas, false, false},
		{"timeout", kafka.RequestTimedOut, false, true},
		{"dial", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true, false},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true, true},
		// Messages mentioning "not found" or "no leader" that are not
		// routing errors, and whose requests may have been stored.
		{"log-dir-not-found", kafka.LogDirNotFound, false, true},
		{"message-says-no-leader", errors.New("broker said: no leader yet, request appended"), false, true},
	} {
		if got := isLeaderError(tc.err); got != tc.leader {
			t.Errorf("%s: isLeaderError(%v) = %v, want %v", tc.name, tc.err, got, tc.leader)
		}
		if got := mayBeStored(tc.err); got != tc.stored {
			t.Errorf("%s: mayBeStored(%v) = %v, want %v", tc.name, tc.err, got, tc.stored)
		}
	}
}

// TestFirstRecordErrorByIndex: of a response's per-record errors, the one
// of the lowest batch index is reported, every time.
func TestFirstRecordErrorByIndex(t *testing.T) {
	errs := map[int]error{7: errors.New("seven"), 2: errors.New("two"), 4: errors.New("four"), 9: errors.New("nine")}
	for range 50 {
		err := firstRecordError(kafka.InvalidRecord, errs)
		if !strings.Contains(err.Error(), "record 2 ") || !strings.Contains(err.Error(), "two") {
			t.Fatalf("first record error = %v, want record 2's", err)
		}
		if !errors.Is(err, kafka.InvalidRecord) {
			t.Fatalf("first record error = %v, does not carry the partition's error code", err)
		}
	}
}

// TestOnlyEnumeratedErrorsDrop: of every Kafka error code, an unknown code
// and a new non-Kafka error, only INVALID_RECORD may drop a record (and the
// too-large codes go to the oversize policy); a request failing once with
// any other error is retried and its record stored.
func TestOnlyEnumeratedErrorsDrop(t *testing.T) {
	errs := []error{kafka.Error(9999), errors.New("a new error class")}
	for code := 1; code <= 120; code++ {
		switch e := kafka.Error(code); e {
		case kafka.MessageSizeTooLarge, kafka.RecordListTooLarge:
		default:
			errs = append(errs, e)
		}
	}
	for _, e := range errs {
		fb := &fakeBroker{fail: []error{e}}
		p, reg := newTestProducer(t, fb, Options{})
		tr := checkpoint.NewTracker(0, nil)
		if err := p.Append("t", 0, trackedRecords(tr, payload(10, 0))); err != nil {
			t.Fatal(err)
		}
		closeProducer(t, p)
		dropped := counter(t, reg, "logship_records_dropped_total")
		if errors.Is(e, kafka.InvalidRecord) {
			if dropped != 1 || len(fb.log) != 0 {
				t.Errorf("%v: dropped %v, stored %d; want dropped", e, dropped, len(fb.log))
			}
			continue
		}
		if dropped != 0 || len(fb.log) != 1 || tr.Pending() != 0 {
			t.Errorf("%v: dropped %v, stored %d, pending %d; want retried and stored", e, dropped, len(fb.log), tr.Pending())
		}
	}
}
