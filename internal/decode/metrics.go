package decode

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the decoders' collectors, vectors with a pipeline label,
// registered once per process (by main) and shared by every Decoder: a
// decoder re-created by a reload counts into the same series, and nothing
// is registered again.
type Metrics struct {
	errors         *prometheus.CounterVec // pipeline, format
	oversize       *prometheus.CounterVec
	timeoutFlushes *prometheus.CounterVec
	unjoinable     *prometheus.CounterVec
}

// NewMetrics builds the collectors and registers them with reg (nil: not
// registered, e.g. to validate a configuration). An error means reg already
// holds a conflicting collector; it is never swallowed.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	pipeline := []string{"pipeline"}
	m := &Metrics{
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logship_decode_errors_total",
			Help: "Malformed CRI or Docker records, shipped as they are.",
		}, []string{"pipeline", "format"}),
		oversize: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logship_decode_oversize_total",
			Help: "Joined events longer than max_line_bytes, split or truncated by oversize_policy.",
		}, pipeline),
		timeoutFlushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logship_decode_timeout_flushes_total",
			Help: "Pending partial or multiline events shipped because their file stayed quiet for the timeout.",
		}, pipeline),
		unjoinable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logship_decode_unjoinable_total",
			Help: "Lines that could not join the pending event because their acks were not consecutive (a bug if non-zero).",
		}, pipeline),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range m.all() {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("decode: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) all() []*prometheus.CounterVec {
	return []*prometheus.CounterVec{m.errors, m.oversize, m.timeoutFlushes, m.unjoinable}
}

// Forget deletes every series of the pipeline name: called when a reload
// removes the pipeline, after its decoder stopped.
func (m *Metrics) Forget(name string) {
	for _, c := range m.all() {
		c.DeletePartialMatch(prometheus.Labels{"pipeline": name})
	}
}

// metrics are one Decoder's counters, curried from Metrics.
type metrics struct {
	errors         prometheus.Counter
	oversize       prometheus.Counter
	timeoutFlushes prometheus.Counter
	unjoinable     prometheus.Counter
}

func (m *Metrics) pipeline(name, format string) *metrics {
	return &metrics{
		errors:         m.errors.WithLabelValues(name, format),
		oversize:       m.oversize.WithLabelValues(name),
		timeoutFlushes: m.timeoutFlushes.WithLabelValues(name),
		unjoinable:     m.unjoinable.WithLabelValues(name),
	}
}
