package tailer

// Directory watches: fsnotify events are hints that wake readers and
// trigger rescans; the periodic rescan stays the truth (events coalesce,
// overflow, and a watch dies with its directory).

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/fsnotify/fsnotify"
)

// updateWatches adds a watch on every existing directory that can hold
// matches (the expansion of each glob's directory part) and is not watched
// yet, e.g. because it was removed and re-created. A failure (ENOSPC,
// EMFILE, ...) is logged and counted once per directory: discovery then
// relies on rescans for it. Called from the Run goroutine.
func (t *Tailer) updateWatches(w *fsnotify.Watcher) {
	if w == nil {
		t.m.watchFallback.Set(1)
		return
	}
	defer func() {
		if len(t.watchFailed) > 0 {
			t.m.watchFallback.Set(1)
		} else {
			t.m.watchFallback.Set(0)
		}
	}()
	watched := make(map[string]bool)
	for _, d := range w.WatchList() {
		watched[d] = true
	}
	for _, dp := range t.dirPats {
		for _, d := range glob(dp, nil) { // discover reports listing errors
			if watched[d] {
				continue
			}
			watched[d] = true
			if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
				continue
			}
			if err := w.Add(d); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if !t.watchFailed[d] {
					t.watchFailed[d] = true
					t.m.discoveryErrs.WithLabelValues(reasonWatchAdd).Inc()
					t.log.Warn("cannot watch directory, relying on rescans", "dir", d, "error", err, "rescan_interval", t.rescan)
				}
				continue
			}
			delete(t.watchFailed, d)
		}
	}
}

// watchEvents drains the watcher's Events and Errors channels. Events are
// hints: a write wakes the reader of that path; a create, rename, remove or
// attribute change of a relevant path asks for a debounced rescan. An error
// (overflow included: events were lost) asks for a rescan too. It exits when
// ctx is done or the watcher's channels are closed.
func (t *Tailer) watchEvents(ctx context.Context, w *fsnotify.Watcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			t.onEvent(ev)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			reason := reasonWatchError
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				reason = reasonOverflow
			}
			t.m.discoveryErrs.WithLabelValues(reason).Inc()
			if suppressed, ok := t.logs.Allow(logWatch); ok {
				t.log.Warn("file watcher error, rescanning", "error", err, "suppressed", suppressed)
			}
			t.requestRescan()
		}
	}
}

// onEvent handles one fsnotify event (from the watchEvents goroutine).
func (t *Tailer) onEvent(ev fsnotify.Event) {
	t.mu.Lock()
	g := t.byPath[ev.Name]
	t.mu.Unlock()
	if g != nil {
		if ev.Op == fsnotify.Write {
			g.signalWrite()
		} else {
			g.signal()
		}
	}
	switch {
	case ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove):
		if g != nil || t.matches(ev.Name) || t.matchesDir(ev.Name) {
			t.requestRescan()
		}
	case ev.Has(fsnotify.Chmod):
		// An open file being unlinked shows up only as an attribute change.
		if g != nil {
			t.requestRescan()
		}
	case ev.Has(fsnotify.Write):
		if g == nil && t.matches(ev.Name) {
			t.requestRescan() // a create we missed
		}
		if g != nil {
			g.mu.Lock()
			parked := g.state.parked()
			g.mu.Unlock()
			if parked {
				t.requestHandover() // reopen it
			}
		}
	}
}
