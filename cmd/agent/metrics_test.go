package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	// series returns the pipelines having a series of the record builders'
	// and decoders' collectors (the tailer keeps its own; see the report).
	series := func() map[string]bool {
		mfs, err := a.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, mf := range mfs {
			if mf.GetName() != "logship_lines_altered_total" && !strings.HasPrefix(mf.GetName(), "logship_decode_") {
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
	if s := series(); !s["logship_lines_altered_total other"] || !s["logship_decode_errors_total other"] {
		t.Fatalf("pipeline other has no series before the reload: %v", s)
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
	if !s["logship_lines_altered_total app"] {
		t.Errorf("kept pipeline app lost its series: %v", s)
	}
}
