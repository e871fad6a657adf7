package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/segmentio/kafka-go"
)

func isLeaderError(err error) bool {
	for _, e := range []error{kafka.NotLeaderForPartition, kafka.LeaderNotAvailable, kafka.UnknownTopicOrPartition,
		kafka.FencedLeaderEpoch, kafka.UnknownLeaderEpoch, kafka.NotController, kafka.BrokerNotAvailable,
		kafka.ReplicaNotAvailable, kafka.KafkaStorageError} {
		if errors.Is(err, e) {
			return true
		}
	}
	// kafka-go reports a partition missing from its cached layout as a
	// plain error ("... has no leader", "... not found").
	msg := err.Error()
	return strings.Contains(msg, "no leader") || strings.Contains(msg, "not found") || isNetError(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded)
}

// mayBeStored reports whether a failed produce request may nevertheless
// have been stored, so that sending it again may duplicate its records.
// Not stored: requests that never left (dial errors; no leader, partition or
// broker in kafka-go's layout) and broker answers given before the append
// (NOT_ENOUGH_REPLICAS, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE,
// authorization and SASL errors). Everything else may have been stored: a
// transport error once the request may have been written, a timeout, and
// also NOT_LEADER_OR_FOLLOWER, which a leader returns for a request it
// appended and then held waiting for acks=all when it loses leadership (a
// clean leader bounce measured 600 duplicates after such answers).
func mayBeStored(err error) bool {
	for _, e := range []error{kafka.NotEnoughReplicas, kafka.UnknownTopicOrPartition, kafka.LeaderNotAvailable,
		kafka.BrokerNotAvailable, kafka.TopicAuthorizationFailed, kafka.ClusterAuthorizationFailed,
		kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState, kafka.InvalidRequiredAcks} {
		if errors.Is(err, e) {
			return false
		}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	msg := err.Error()
	return !strings.Contains(msg, "no leader") && !strings.Contains(msg, "not found")
}

func isTooLarge(err error) bool {
	return errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge)
}

// isNetError reports a transport error. kafka.Error has Timeout and
// Temporary methods too, so it satisfies net.Error: broker error codes are
// excluded explicitly.
func isNetError(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// errorCode is the label for logship_send_errors_total: the Kafka error
// name, or a coarse class for transport errors.
func errorCode(err error) string {
	var ke kafka.Error
	if errors.As(err, &ke) {
		return strings.ToLower(strings.ReplaceAll(ke.Title(), " ", "_"))
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case isNetError(err):
		return "network"
	}
	return "other"
}

// firstRecordError is the error of a response's RecordErrors.
func firstRecordError(errs map[int]error) error {
	for idx, err := range errs {
		return fmt.Errorf("producer: record %d rejected: %w", idx, err)
	}
	return nil
}
