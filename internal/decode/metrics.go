package decode

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	errors         prometheus.Counter
	oversize       prometheus.Counter
	timeoutFlushes prometheus.Counter
	unjoinable     prometheus.Counter
}

func newMetrics(pipeline, format string, reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"pipeline": pipeline}
	m := &metrics{
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "logship_decode_errors_total",
			Help:        "Malformed CRI or Docker records, shipped as they are.",
			ConstLabels: prometheus.Labels{"pipeline": pipeline, "format": format},
		}),
		oversize: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "logship_decode_oversize_total",
			Help:        "Joined events longer than max_line_bytes, split or truncated by oversize_policy.",
			ConstLabels: labels,
		}),
		timeoutFlushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "logship_decode_timeout_flushes_total",
			Help:        "Pending partial or multiline events shipped because their file stayed quiet for the timeout.",
			ConstLabels: labels,
		}),
		unjoinable: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "logship_decode_unjoinable_total",
			Help:        "Lines that could not join the pending event because their acks were not consecutive (a bug if non-zero).",
			ConstLabels: labels,
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []*prometheus.Counter{&m.errors, &m.oversize, &m.timeoutFlushes, &m.unjoinable} {
		if err := reg.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			// The same pipeline wired again: keep counting in the
			// registered series.
			*c = are.ExistingCollector.(prometheus.Counter)
		}
	}
	return m, nil
}
