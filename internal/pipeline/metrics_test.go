package pipeline

import (
	"context"
	"maps"
	"testing"

	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/tailer"
	"github.com/prometheus/client_golang/prometheus"
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
	if got, want := alteredSeries(t, reg), map[string]float64{"a": 2, "b": 1}; !maps.Equal(got, want) {
		t.Fatalf("series = %v, want %v (one per pipeline, a counted across the reload)", got, want)
	}
	m.Forget("a")
	if got, want := alteredSeries(t, reg), map[string]float64{"b": 1}; !maps.Equal(got, want) {
		t.Fatalf("series after removing pipeline a = %v, want %v", got, want)
	}
}

// alteredSeries gathers logship_lines_altered_total from reg: value by
// pipeline label.
func alteredSeries(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "logship_lines_altered_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pipeline" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}
