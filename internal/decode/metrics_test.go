package decode

import (
	"testing"

	"github.com/logship/logship/internal/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsOneSeriesAcrossReload: the collectors are registered once; a
// decoder re-created under the same pipeline name (a reload) counts into the
// same series, and Forget (the pipeline removed) deletes its series only.
func TestMetricsOneSeriesAcrossReload(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Fatal("a second registration with the same registry was accepted (it would count into nothing)")
	}
	for _, name := range []string{"a", "a", "b"} { // a, its successor after a reload, b
		d, err := New(Options{Name: name, Format: config.FormatCRI, Next: &recSink{}, Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		d.m.errors.Inc()
		d.m.oversize.Inc()
	}
	// want holds, per pipeline, the value of its errors (format cri) and
	// oversize series; no other series may exist.
	check := func(when string, want map[string]float64) {
		t.Helper()
		if n, m := testutil.CollectAndCount(m.errors), testutil.CollectAndCount(m.oversize); n != len(want) || m != len(want) {
			t.Fatalf("%s: %d errors and %d oversize series, want %d each", when, n, m, len(want))
		}
		for name, v := range want {
			if e, o := testutil.ToFloat64(m.errors.WithLabelValues(name, "cri")), testutil.ToFloat64(m.oversize.WithLabelValues(name)); e != v || o != v {
				t.Fatalf("%s: pipeline %s counted %v errors and %v oversize, want %v each", when, name, e, o, v)
			}
		}
	}
	check("after a reload", map[string]float64{"a": 2, "b": 1})
	m.Forget("a")
	check("after removing pipeline a", map[string]float64{"b": 1})
}
