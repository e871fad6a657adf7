package agenttest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSumMetric(t *testing.T) {
	t.Parallel()
	body := `# HELP logship_lines_read_total Lines read.
logship_lines_read_total{pipeline="a"} 3
logship_lines_read_total{pipeline="b"} 4.5
logship_lines_read_total_extra 100
logship_inflight_bytes 7
`
	for _, tc := range []struct {
		name    string
		want    float64
		wantErr bool
	}{
		{"logship_lines_read_total", 7.5, false},
		{"logship_inflight_bytes", 7, false},
		{"logship_lines_read", 0, true}, // a prefix of a name is not the metric
		{"logship_missing", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SumMetric(strings.NewReader(body), tc.name)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("SumMetric(%s) = %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestUntil(t *testing.T) {
	t.Parallel()
	n := 0
	if err := Until(time.Second, time.Millisecond, "three calls", func() (bool, error) { n++; return n == 3, nil }); err != nil || n != 3 {
		t.Errorf("Until = %v after %d calls, want nil after 3", err, n)
	}
	gone := errors.New("gone")
	if err := Until(time.Minute, time.Millisecond, "x", func() (bool, error) { return false, gone }); err != gone {
		t.Errorf("Until = %v, want the condition's error at once", err)
	}
	err := Until(10*time.Millisecond, time.Millisecond, "never", func() (bool, error) { return false, nil })
	if err == nil || !strings.Contains(err.Error(), "waiting for never") {
		t.Errorf("Until = %v, want a timeout naming what was awaited", err)
	}
}

func TestFDTargetsAndStatus(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "held")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	targets, err := FDTargets(os.Getpid())
	if err != nil || !slices.Contains(targets, p) {
		t.Errorf("FDTargets = %q, %v; want it to hold %s", targets, err, p)
	}
	u, err := ProcUsage(os.Getpid())
	if err != nil || u.RSS <= 0 || u.PeakRSS <= 0 { // VmHWM lags VmRSS: no order between them
		t.Errorf("ProcUsage = %+v, %v; want RSS and PeakRSS > 0", u, err)
	}
}

func TestWriterLedger(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := NewWriter(t, dir, 2, 3)
	w.Write(t, 1, 2)
	w.Write(t, 0, 1)
	if got := w.Written(); !slices.Equal(got, []int{1, 2}) || w.Total() != 3 {
		t.Fatalf("ledger %v total %d, want [1 2] 3", got, w.Total())
	}
	b, err := os.ReadFile(w.Paths()[1])
	if err != nil || string(b) != "1 0 xxx\n1 1 xxx\n" {
		t.Errorf("file 1 = %q, %v", b, err)
	}
}
