package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logship/logship/internal/config"
)

// TestReloadRemovedPipelineSeriesDeleted: the per-pipeline collectors are
// registered once; a reload that keeps a pipeline keeps its series and
// registers nothing again, one that removes a pipeline deletes its series
// (#18: metrics registered once, curried per pipeline).
func TestReloadRemovedPipelineSeriesDeleted(t *testing.T) {
	t.Parallel()
	checkReloadRemovesSeries(t, func(name string) bool {
		return name == "logship_lines_altered_total" || strings.HasPrefix(name, "logship_decode_")
	}, "logship_lines_altered_total", "logship_decode_errors_total")
}

// TestReloadRemovedPipelineTailerSeriesDeleted: the same for the tailer's
// collectors, which kept a removed pipeline's counters forever (#18).
func TestReloadRemovedPipelineTailerSeriesDeleted(t *testing.T) {
	t.Parallel()
	tailerSeries := []string{
		"logship_lines_read_total", "logship_bytes_read_total", "logship_files_open", "logship_rotations_total",
		"logship_truncations_total", "logship_lines_split_total", "logship_lines_truncated_total",
		"logship_truncated_bytes_total", "logship_discovery_errors_total", "logship_file_lag_bytes",
		"logship_truncation_lost_bytes_total", "logship_copies_recognised_total", "logship_forgotten_unread_bytes_total",
		"logship_open_budget_waits_total", "logship_open_emfile_total", "logship_watch_fallback",
	}
	checkReloadRemovesSeries(t, func(name string) bool { return slices.Contains(tailerSeries, name) }, tailerSeries...)
}

// checkReloadRemovesSeries runs two pipelines, app and other, reloads
// without other, and checks that the collectors selected by match had series
// of other before (each name of want) and have none of other after, while app
// keeps its series.
func checkReloadRemovesSeries(t *testing.T, match func(name string) bool, want ...string) {
	dir := t.TempDir()
	_, path := testConfig(t, dir, "")
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	other := fmt.Sprintf("  - {name: other, paths: [%q], topic: logs.other, format: cri, serializer: json}\n",
		filepath.Join(dir, "logs", "*.other"))
	if err := os.WriteFile(path, append(base, other...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := wire(cfg, runEnv{path: path}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.producer.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	g := newActors(slog.New(slog.DiscardHandler))
	defer func() { cancel(); g.Wait() }()
	g.Go(ctx, "producer", a.producer.Run)
	for _, p := range a.pipes {
		p.start(ctx, g)
	}
	// series returns "<collector> <pipeline>" for the collectors selected
	// by match.
	series := func() map[string]bool {
		mfs, err := a.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, mf := range mfs {
			if !match(mf.GetName()) {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "pipeline" {
						out[mf.GetName()+" "+l.GetValue()] = true
					}
				}
			}
		}
		return out
	}
	before := series()
	for _, name := range want {
		if !before[name+" other"] {
			t.Fatalf("%s has no series of pipeline other before the reload: %v", name, before)
		}
	}
	if err := os.WriteFile(path, base, 0o600); err != nil {
		t.Fatal(err)
	}
	a.reload(ctx, g)
	if len(a.pipes) != 1 || a.pipes[0].cfg.Name != "app" {
		t.Fatalf("reload did not remove pipeline other: %d pipelines", len(a.pipes))
	}
	s := series()
	for k := range s {
		if strings.HasSuffix(k, " other") {
			t.Errorf("removed pipeline other left its series %q", k)
		}
	}
	if !s["logship_lines_altered_total app"] && !s["logship_lines_read_total app"] {
		t.Errorf("kept pipeline app has no series: %v", s)
	}
	for k := range before {
		if strings.HasSuffix(k, " app") && !s[k] {
			t.Errorf("kept pipeline app lost its series %q", k)
		}
	}
}
