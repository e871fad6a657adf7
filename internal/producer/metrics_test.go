package producer

import (
	"testing"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// TestMetricsSharedRegistry: a second producer on the same registry (a
// reload re-creates the producer in the same process) counts in the
// registered series, not in collectors nobody gathers.
func TestMetricsSharedRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	for i := range 2 {
		fb := &fakeBroker{}
		p, err := New(Options{Brokers: []string{"127.0.0.1:1"}, Acks: kafka.RequireAll, Registerer: reg})
		if err != nil {
			t.Fatalf("producer %d: %v", i, err)
		}
		p.produceFn = fb.produce
		runProducer(t, p)
		tr := checkpoint.NewTracker(0, nil)
		if err := p.Append("t", 0, trackedRecords(tr, payload(10, 0), payload(10, 1))); err != nil {
			t.Fatal(err)
		}
		closeProducer(t, p)
		if n := counter(t, reg, "logship_records_acked_total"); n != float64(2*(i+1)) {
			t.Fatalf("after producer %d: acked_total %v, want %d", i+1, n, 2*(i+1))
		}
	}
}
