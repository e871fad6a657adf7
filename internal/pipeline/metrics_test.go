package pipeline

import (
	"context"
	"testing"

	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/tailer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsOneSeriesAcrossReload: the collectors are registered once; a
// pipeline re-created under the same name (a reload) counts into the same
// series, and Forget (the pipeline removed) deletes only its series.
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
	emitInvalid := func(name string) {
		t.Helper()
		p, err := New(Options{Name: name, Topic: "t", Serializer: config.SerializerJSON, Host: "h",
			AgentID: "0123456789abcdef0123456789abcdef", Out: discard{parts: 1}, Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		src := &tailer.Source{Pipeline: name, Path: "/var/log/a.log"}
		if err := p.Emit(context.Background(), src, []tailer.Line{{Data: []byte("bad \xff"), End: 6}}); err != nil {
			t.Fatal(err)
		}
	}
	emitInvalid("a")
	emitInvalid("a") // the successor after a reload
	emitInvalid("b")
	// want holds the value of each pipeline's series; no other series may
	// exist.
	check := func(when string, want map[string]float64) {
		t.Helper()
		if n := testutil.CollectAndCount(m.altered); n != len(want) {
			t.Fatalf("%s: %d series, want %d (one per pipeline)", when, n, len(want))
		}
		for name, v := range want {
			if got := testutil.ToFloat64(m.altered.WithLabelValues(name)); got != v {
				t.Fatalf("%s: pipeline %s counted %v, want %v", when, name, got, v)
			}
		}
	}
	check("after a reload (a counted across it)", map[string]float64{"a": 2, "b": 1})
	m.Forget("a")
	check("after removing pipeline a", map[string]float64{"b": 1})
}
