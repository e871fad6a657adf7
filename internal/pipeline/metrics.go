package pipeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the record builders' collectors, vectors with a pipeline
// label, registered once per process (by main) and shared by every
// Pipeline: a pipeline re-created by a reload counts into the same series,
// and nothing is registered again.
type Metrics struct {
	altered *prometheus.CounterVec
}

// NewMetrics builds the collectors and registers them with reg (nil: not
// registered, e.g. to validate a configuration). An error means reg already
// holds a conflicting collector; it is never swallowed, so a Pipeline never
// counts into a collector nobody gathers.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		altered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logship_lines_altered_total",
			Help: "Lines whose invalid UTF-8 was replaced by U+FFFD in the JSON envelope.",
		}, []string{"pipeline"}),
	}
	if reg != nil {
		if err := reg.Register(m.altered); err != nil {
			return nil, fmt.Errorf("pipeline: register metrics: %w", err)
		}
	}
	return m, nil
}

// Forget deletes the series of the pipeline name: called when a reload
// removes the pipeline, after its last record was built.
func (m *Metrics) Forget(name string) {
	m.altered.DeletePartialMatch(prometheus.Labels{"pipeline": name})
}
