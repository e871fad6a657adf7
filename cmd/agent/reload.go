package main

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/tailer"
)

// Reload on SIGHUP.
//
// The file named by -config is read and validated again. An invalid file is
// rejected with every problem logged, and the running configuration keeps
// going unchanged. A valid one is applied to the pipelines only:
//
//   - an unchanged pipeline (same name, identical settings) keeps running
//     untouched;
//   - an added pipeline starts, resuming files from the checkpoint entries
//     it left behind earlier in this process, else per start_at;
//   - a changed pipeline stops reading, waits (up to agent.shutdown_timeout)
//     until everything it read is acknowledged, and hands its checkpoint
//     state to its successor, so files matched by both the old and the new
//     settings are neither shipped again nor skipped. Lines not yet handed
//     to the producer when it stops (a pending multiline or partial event,
//     lines waiting for topic metadata) are abandoned at once: their budget
//     is released and the successor reads them again from the committed
//     offset, so the wait is for the producer's records only. If it times out
//     (broker down), the successor resumes at the committed offsets: the
//     unacknowledged lines are shipped again (duplicates, never loss,
//     counted in logship_records_retried_total);
//   - a removed pipeline stops reading and waits for its acknowledgements in
//     the same way. Its checkpoint entries are kept in memory for the life
//     of the process (re-adding it resumes where it stopped) but are no
//     longer written to the checkpoint file — like a pipeline removed
//     across a restart.
//
// Changes to agent.log_level apply at once. Every other setting outside
// pipelines (kafka.*, agent.data_dir, memory_limit, host, http.*, ...)
// requires a restart: such changes are logged as "requires restart" and not
// applied at all, while the pipeline changes of the same file are.
//
// The service manager sees RELOADING=1 when a reload starts and READY=1 when
// it is finished, whatever its outcome.

// pipelinePlan is the difference between two pipeline lists, by name.
type pipelinePlan struct {
	added, removed, changed, unchanged []string
}

// planPipelines compares the running pipelines with the new ones. Names are
// unique within a valid configuration.
func planPipelines(running, next []config.Pipeline) pipelinePlan {
	var plan pipelinePlan
	old := make(map[string]config.Pipeline, len(running))
	for _, p := range running {
		old[p.Name] = p
	}
	for _, p := range next {
		prev, ok := old[p.Name]
		switch {
		case !ok:
			plan.added = append(plan.added, p.Name)
		case reflect.DeepEqual(prev, p):
			plan.unchanged = append(plan.unchanged, p.Name)
		default:
			plan.changed = append(plan.changed, p.Name)
		}
		delete(old, p.Name)
	}
	for _, p := range running {
		if _, gone := old[p.Name]; gone {
			plan.removed = append(plan.removed, p.Name)
		}
	}
	return plan
}

// restartKeys lists the settings outside pipelines that differ between the
// running and the new configuration and need a restart to take effect
// (everything except agent.log_level), as dotted YAML keys.
func restartKeys(running, next *config.Config) []string {
	var keys []string
	for _, sec := range []struct {
		name      string
		old, next any
	}{
		{"agent", running.Agent, next.Agent},
		{"http", running.HTTP, next.HTTP},
		{"kafka", running.Kafka, next.Kafka},
	} {
		keys = diffFields(sec.name, reflect.ValueOf(sec.old), reflect.ValueOf(sec.next), keys)
	}
	return slices.DeleteFunc(keys, func(k string) bool { return k == "agent.log_level" })
}

// diffFields appends the YAML keys of the fields of two structs of the same
// type that differ, descending into nested structs. Values are never
// reported, only names: some are secrets.
func diffFields(prefix string, a, b reflect.Value, keys []string) []string {
	for i := range a.NumField() {
		f := a.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := prefix + "." + name
		fa, fb := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct {
			keys = diffFields(key, fa, fb, keys)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			keys = append(keys, key)
		}
	}
	return keys
}

// reload re-reads the configuration and applies it as described above.
// Called from the run goroutine only, with readCtx (the context pipelines
// run under) and g (the actors the new pipelines join).
func (a *agent) reload(readCtx context.Context, g *actors) {
	begin := time.Now()
	a.notify("reloading", a.env.notify.Reloading)
	defer a.notify("ready", a.env.notify.Ready)
	log := a.log.With("config", a.env.path)
	next, err := config.Load(a.env.path)
	if err != nil {
		log.Error("configuration reload rejected; the running configuration is kept",
			"errors", strings.Split(err.Error(), "\n"))
		return
	}
	a.mu.Lock()
	cur := a.cfg
	a.mu.Unlock()
	if keys := restartKeys(cur, next); len(keys) > 0 {
		log.Warn("configuration change requires restart; not applied", "keys", keys)
	}
	if next.Agent.LogLevel != cur.Agent.LogLevel {
		if err := a.env.level.UnmarshalText([]byte(next.Agent.LogLevel)); err == nil {
			log.Info("log level changed", "level", next.Agent.LogLevel)
		}
	}

	plan := planPipelines(cur.Pipelines, next.Pipelines)
	nextByName := make(map[string]config.Pipeline, len(next.Pipelines))
	for _, p := range next.Pipelines {
		nextByName[p.Name] = p
	}
	// Phase 1: build what is new without registering anything, so an error
	// rejects the reload before anything was stopped.
	for _, name := range slices.Concat(plan.added, plan.changed) {
		p, err := a.newPipeline(nextByName[name], nil, tailer.Handover{}, nil)
		if err != nil {
			log.Error("configuration reload rejected; the running configuration is kept", "errors", []string{err.Error()})
			return
		}
		p.budget.Close()
	}

	// Phase 2: stop the changed and removed pipelines and wait for their
	// acknowledgements, all at once.
	a.mu.Lock()
	byName := make(map[string]*runningPipeline, len(a.pipes))
	for _, p := range a.pipes {
		byName[p.cfg.Name] = p
	}
	a.mu.Unlock()
	stopping := slices.Concat(plan.changed, plan.removed)
	for _, name := range stopping {
		byName[name].cancel()
	}
	waitCtx, cancel := context.WithTimeout(readCtx, cur.Agent.ShutdownTimeout)
	defer cancel()
	for _, name := range stopping {
		p := byName[name]
		waited := time.Now()
		<-p.done
		stopped := time.Since(waited)
		err := p.tailer.WaitAcked(waitCtx)
		log.Debug("reload: pipeline stopped", "pipeline", name, "stop_took", stopped.Round(time.Millisecond),
			"acks_took", (time.Since(waited) - stopped).Round(time.Millisecond))
		if err != nil {
			// A successor reads the pending lines again from the committed
			// offsets while the producer may still deliver them: counted
			// as duplicates (read before the Snapshot below, so an upper
			// bound). A removed pipeline has no successor.
			pending := 0
			for _, fs := range p.tailer.Status() {
				pending += fs.Pending
			}
			if slices.Contains(plan.changed, name) {
				a.producer.CountResent(pending)
			}
			log.Warn("reload: acknowledgements still pending; those lines will be shipped again",
				"pipeline", name, "records", pending, "error", err)
		}
		p.budget.Close() // bytes still held come back through it later
	}

	// Phase 3: successors take over the state of their predecessors; byName
	// becomes the set of pipelines to run.
	var started []*runningPipeline
	for _, name := range slices.Concat(plan.added, plan.changed) {
		var restore []checkpoint.FileState
		var handover tailer.Handover
		if prev := byName[name]; prev != nil {
			restore, handover = prev.tailer.Snapshot(), prev.tailer.Handover()
		} else if kept, ok := a.retired[name]; ok {
			restore = kept
		}
		p, err := a.newPipeline(nextByName[name], restore, handover, a.reg)
		if err != nil {
			// Validated in phase 1; only a registration conflict gets here.
			// Keep its state for the next reload.
			a.retired[name] = restore
			delete(byName, name)
			log.Error("reload: pipeline could not be restarted; its files are not read until the next reload or restart",
				"pipeline", name, "error", err)
			continue
		}
		delete(a.retired, name)
		a.flusher.Add(p.tailer)
		started = append(started, p)
		byName[name] = p
	}
	for _, name := range plan.removed {
		old := byName[name]
		a.retired[name] = old.tailer.Snapshot()
		a.pipelineMetrics.Forget(name)
		a.decodeMetrics.Forget(name)
		a.tailerMetrics.Forget(name)
		delete(byName, name)
	}
	pipes := make([]*runningPipeline, 0, len(next.Pipelines))
	for _, pc := range next.Pipelines {
		if p := byName[pc.Name]; p != nil {
			pipes = append(pipes, p)
		}
	}
	a.mu.Lock()
	oldPipes := a.pipes
	a.pipes = pipes
	applied := *cur
	applied.Agent.LogLevel = next.Agent.LogLevel
	applied.Pipelines = next.Pipelines
	a.cfg = &applied
	a.mu.Unlock()
	for _, p := range oldPipes {
		if !slices.Contains(pipes, p) {
			a.flusher.Remove(p.tailer)
		}
	}
	for _, p := range started {
		p.start(readCtx, g)
	}
	log.Info("configuration reloaded", "added", plan.added, "removed", plan.removed,
		"changed", plan.changed, "unchanged", len(plan.unchanged), "took", time.Since(begin).Round(time.Millisecond))
}
