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

func newProducerMetrics(reg prometheus.Registerer) (*producerMetrics, error) {
	m := &producerMetrics{
		acked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logship_records_acked_total",
			Help: "Records acknowledged by the broker with RecordMetadata.",
		}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logship_records_retried_total",
			Help: "Records that may reach Kafka twice: re-sent after a produce request that may have been stored (any failure but those known to precede the append), split parts sent again, records of such a request abandoned by a hard stop (read and sent again after restart; also in the shutdown log's unacknowledged count), and records a reload handed over unacknowledged. An upper bound on duplicates, crashes aside.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logship_records_dropped_total",
			Help: "Records dropped by an explicit policy, by reason.",
		}, []string{"reason"}),
		sendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logship_send_errors_total",
			Help: "Failed produce requests, by Kafka error code or transport class.",
		}, []string{"code"}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logship_ack_latency_seconds",
			Help:    "Delay from a line being read to its RecordMetadata.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		metadataRefreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logship_metadata_refreshes_total",
			Help: "Forced cluster metadata refreshes after leader or routing errors.",
		}),
		split: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logship_records_split_total",
			Help: "Oversize records delivered in parts by the split policy.",
		}),
		parts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logship_record_parts_total",
			Help: "Parts sent for records split by the split policy.",
		}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logship_records_truncated_total",
			Help: "Oversize records delivered truncated by the truncate policy (or after a dead-letter failure).",
		}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logship_dead_letter_records_total",
			Help: "Oversize records written to the local dead-letter file instead of Kafka.",
		}),
		deadLetterErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logship_dead_letter_errors_total",
			Help: "Records the dead-letter file could not take (reason full or write); they are truncated instead.",
		}, []string{"reason"}),
	}
	for _, reason := range []string{"too_large", "invalid"} {
		m.dropped.WithLabelValues(reason)
	}
	for _, reason := range []string{"full", "write"} {
		m.deadLetterErrors.WithLabelValues(reason)
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.acked = register(reg, m.acked, &err)
	m.retried = register(reg, m.retried, &err)
	m.dropped = register(reg, m.dropped, &err)
	m.sendErrors = register(reg, m.sendErrors, &err)
	m.ackLatency = register(reg, m.ackLatency, &err)
	m.metadataRefreshes = register(reg, m.metadataRefreshes, &err)
	m.split = register(reg, m.split, &err)
	m.parts = register(reg, m.parts, &err)
	m.truncated = register(reg, m.truncated, &err)
	m.deadLettered = register(reg, m.deadLettered, &err)
	m.deadLetterErrors = register(reg, m.deadLetterErrors, &err)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c on reg and returns it, or, when an equal collector
// is already registered (a producer re-created in the same process), that
// one, so counting continues in the series the registry gathers. The first
// other error is stored in *errp.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if *errp != nil {
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
