package producer

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type producerMetrics struct {
	acked             prometheus.Counter
	retried           prometheus.Counter
	dropped           *prometheus.CounterVec
	sendErrors        *prometheus.CounterVec
	ackLatency        prometheus.Histogram
	metadataRefreshes prometheus.Counter
	split             prometheus.Counter
	parts             prometheus.Counter
	truncated         prometheus.Counter
	deadLettered      prometheus.Counter
	deadLetterErrors  *prometheus.CounterVec
}

// newProducerMetrics builds the producer's collectors and, when reg is not
// nil, registers each (reusing an equal one already registered, see
// register). The first registration error is returned.
func newProducerMetrics(reg prometheus.Registerer) (*producerMetrics, error) {
	var err error
	counter := func(name, help string) prometheus.Counter {
		return register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}), &err)
	}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label}), &err)
	}
	m := &producerMetrics{
		acked: counter("logship_records_acked_total",
			"Records acknowledged by the broker with RecordMetadata."),
		retried: counter("logship_records_retried_total",
			"Records that may reach Kafka twice: re-sent after a produce request that may have been stored (any failure but those known to precede the append), split parts sent again, records of such a request abandoned by a hard stop (read and sent again after restart; also in the shutdown log's unacknowledged count), and records a reload handed over unacknowledged. An upper bound on duplicates, crashes aside."),
		dropped: counterVec("logship_records_dropped_total",
			"Records dropped by an explicit policy, by reason.", "reason"),
		sendErrors: counterVec("logship_send_errors_total",
			"Failed produce requests, by Kafka error code or transport class.", "code"),
		ackLatency: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logship_ack_latency_seconds",
			Help:    "Delay from a line being read to its RecordMetadata.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}), &err),
		metadataRefreshes: counter("logship_metadata_refreshes_total",
			"Forced cluster metadata refreshes after leader or routing errors."),
		split: counter("logship_records_split_total",
			"Oversize records delivered in parts by the split policy."),
		parts: counter("logship_record_parts_total",
			"Parts sent for records split by the split policy."),
		truncated: counter("logship_records_truncated_total",
			"Oversize records delivered truncated by the truncate policy (or after a dead-letter failure)."),
		deadLettered: counter("logship_dead_letter_records_total",
			"Oversize records written to the local dead-letter file instead of Kafka."),
		deadLetterErrors: counterVec("logship_dead_letter_errors_total",
			"Records the dead-letter file could not take (reason full or write); they are truncated instead.", "reason"),
	}
	if err != nil {
		return nil, err
	}
	for _, reason := range []string{"too_large", "invalid"} {
		m.dropped.WithLabelValues(reason)
	}
	for _, reason := range []string{"full", "write"} {
		m.deadLetterErrors.WithLabelValues(reason)
	}
	return m, nil
}

// register registers c on reg and returns it (c itself when reg is nil), or,
// when an equal collector is already registered (a producer re-created in
// the same process), that one, so counting continues in the series the
// registry gathers. The first other error is stored in *errp.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if reg == nil || *errp != nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	*errp = fmt.Errorf("producer: register metrics: %w", err)
	return c
}
