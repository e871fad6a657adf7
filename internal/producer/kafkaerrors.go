package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"syscall"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// Failed produce requests are classified by Kafka error code (kafka.Error)
// and by kafka-go's typed client errors, never by message text.
//
// kafka-go v0.4.51 reports a topic, partition or leader missing from its
// cached cluster layout, before any request is sent, as
// protocol.ErrNoTopic, protocol.ErrNoPartition or protocol.ErrNoLeader
// (wrapped in *protocol.TopicError or *protocol.TopicPartitionError and
// *produce.Error): they are matched with errors.Is. When it cannot fetch
// the layout at all (an authentication failure, say) it may report
// ErrNoTopic too; logAuthFailure recognises those first.

// leaderCodes are the broker answers that mean the request went to the
// wrong broker or the partition has no leader: retried after a metadata
// refresh.
var leaderCodes = []kafka.Error{kafka.NotLeaderForPartition, kafka.LeaderNotAvailable, kafka.UnknownTopicOrPartition,
	kafka.FencedLeaderEpoch, kafka.UnknownLeaderEpoch, kafka.NotController, kafka.BrokerNotAvailable,
	kafka.ReplicaNotAvailable, kafka.KafkaStorageError}

// layoutErrors are kafka-go's errors for a request it could not route.
var layoutErrors = []error{protocol.ErrNoTopic, protocol.ErrNoPartition, protocol.ErrNoLeader}

// notStoredCodes are the broker answers given before the records are
// appended.
var notStoredCodes = []kafka.Error{kafka.NotEnoughReplicas, kafka.UnknownTopicOrPartition, kafka.LeaderNotAvailable,
	kafka.BrokerNotAvailable, kafka.TopicAuthorizationFailed, kafka.ClusterAuthorizationFailed,
	kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState, kafka.InvalidRequiredAcks}

// kafkaCode returns the Kafka error code err carries, if any.
func kafkaCode(err error) (kafka.Error, bool) {
	var ke kafka.Error
	ok := errors.As(err, &ke)
	return ke, ok
}

func isLayoutError(err error) bool {
	return slices.ContainsFunc(layoutErrors, func(e error) bool { return errors.Is(err, e) })
}

// isLeaderError reports a routing error: a leader or routing code, a
// partition missing from kafka-go's layout, or a transport failure (the
// broker may be gone). The retry follows a metadata refresh.
func isLeaderError(err error) bool {
	if code, ok := kafkaCode(err); ok {
		return slices.Contains(leaderCodes, code)
	}
	return isLayoutError(err) || isNetError(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded)
}

// mayBeStored reports whether a failed produce request may nevertheless
// have been stored, so that sending it again may duplicate its records.
// Not stored: requests that never left (dial errors; no leader, partition or
// topic in kafka-go's layout; an acknowledged request that carried no
// record) and broker answers given before the append (notStoredCodes).
// Everything else may have been stored, unknown errors included: a
// transport error once the request may have been written, a timeout, and
// also NOT_LEADER_OR_FOLLOWER, which a leader returns for a request it
// appended and then held waiting for acks=all when it loses leadership (a
// clean leader bounce measured 600 duplicates after such answers).
func mayBeStored(err error) bool {
	if code, ok := kafkaCode(err); ok {
		return !slices.Contains(notStoredCodes, code)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	return !isLayoutError(err) && !errors.Is(err, errEmptyRequest)
}

func isTooLarge(err error) bool {
	code, ok := kafkaCode(err)
	return ok && (code == kafka.MessageSizeTooLarge || code == kafka.RecordListTooLarge)
}

// isRejected reports whether the broker rejected the records themselves, so
// that sending them again can never succeed: a batch so rejected is split,
// and a single record so rejected is dropped (counted and logged). Exactly
// one code qualifies: INVALID_RECORD (87: a record the broker's validation
// refuses, e.g. a compacted topic's record without a key). Every other
// error, known or not, is retried.
func isRejected(err error) bool {
	code, ok := kafkaCode(err)
	return ok && code == kafka.InvalidRecord
}

// isNetError reports a transport error. kafka.Error has Timeout and
// Temporary methods too, so it satisfies net.Error: broker error codes are
// excluded explicitly.
func isNetError(err error) bool {
	if _, ok := kafkaCode(err); ok {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// errorCode is the label for logship_send_errors_total: the Kafka error
// name, or a coarse class for transport errors.
func errorCode(err error) string {
	if code, ok := kafkaCode(err); ok {
		return strings.ToLower(strings.ReplaceAll(code.Title(), " ", "_"))
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case isNetError(err):
		return "network"
	}
	return "other"
}

// firstRecordError is the error of a response that rejected records: the
// per-record error of the lowest batch index (kafka-go gives only the
// broker's message for each), wrapping code, the partition's error code
// (nil when the broker gave none: the error is then retried).
func firstRecordError(code error, errs map[int]error) error {
	first := slices.Min(slices.Collect(maps.Keys(errs)))
	if code == nil {
		return fmt.Errorf("producer: record %d rejected: %v", first, errs[first])
	}
	return fmt.Errorf("producer: record %d rejected: %v: %w", first, errs[first], code)
}
