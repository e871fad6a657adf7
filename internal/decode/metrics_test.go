package decode

import (
	"maps"
	"testing"

	"github.com/logship/logship/internal/config"
	"github.com/prometheus/client_golang/prometheus"
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
	series := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			if n := mf.GetName(); n != "logship_decode_errors_total" && n != "logship_decode_oversize_total" {
				continue
			}
			for _, s := range mf.GetMetric() {
				key := mf.GetName()
				for _, l := range s.GetLabel() {
					key += " " + l.GetName() + "=" + l.GetValue()
				}
				out[key] = s.GetCounter().GetValue()
			}
		}
		return out
	}
	want := map[string]float64{
		"logship_decode_errors_total format=cri pipeline=a": 2, "logship_decode_oversize_total pipeline=a": 2,
		"logship_decode_errors_total format=cri pipeline=b": 1, "logship_decode_oversize_total pipeline=b": 1,
	}
	if got := series(); !maps.Equal(got, want) {
		t.Fatalf("series = %v, want %v", got, want)
	}
	m.Forget("a")
	want = map[string]float64{"logship_decode_errors_total format=cri pipeline=b": 1, "logship_decode_oversize_total pipeline=b": 1}
	if got := series(); !maps.Equal(got, want) {
		t.Fatalf("after removing pipeline a: series = %v, want %v", got, want)
	}
}
