package tailer

// Descriptors: every open takes a token of the max_open_files budget, and
// opens through the confiner, so a path is read only if it resolves
// beneath a glob's root to the regular file that was discovered.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// openResult is the outcome of Tailer.open.
type openResult int

const (
	opened   openResult = iota
	failed              // logged once per path; retried at rescans
	waitSlot            // no descriptor free (max_open_files or EMFILE); retried first
)

// open takes a descriptor token and opens c for reading, checking it is
// still the regular file that was discovered. A failure is logged and
// counted once per path until an open succeeds again; EMFILE and ENFILE are
// counted each time and logged at most once a minute. Called from the Run
// goroutine.
func (t *Tailer) open(c candidate) (*os.File, fileInfo, openResult) {
	select {
	case t.slots <- struct{}{}:
	default:
		return nil, fileInfo{}, waitSlot
	}
	f, err := t.conf.open(c.path)
	if errors.Is(err, errOutside) {
		err = fmt.Errorf("open %s: %w", c.path, errChanged) // resolved inside a moment ago
	}
	var info fileInfo
	if err == nil {
		info, err = fstat(f)
		if err == nil && (!info.regular || info.key != c.info.key) {
			err = fmt.Errorf("open %s: %w", c.path, errChanged)
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		<-t.slots
		switch {
		case errors.Is(err, errChanged) || errors.Is(err, fs.ErrNotExist):
			return nil, fileInfo{}, failed // raced with a rename; the next rescan sees the new state
		case tooManyFiles(err):
			t.m.emfile.Inc()
			if suppressed, ok := t.logs.Allow(logEMFILE); ok {
				t.log.Warn("out of file descriptors, waiting for open files to close", "path", c.path, "error", err,
					"max_open_files", cap(t.slots), "suppressed", suppressed)
			}
			return nil, fileInfo{}, waitSlot
		}
		if !t.openFailed[c.path] {
			t.openFailed[c.path] = true
			t.m.discoveryErrs.WithLabelValues(reasonOpen).Inc()
			t.log.Warn("cannot open file, retrying at rescans", "path", c.path, "error", err)
		}
		return nil, fileInfo{}, failed
	}
	delete(t.openFailed, c.path)
	t.m.filesOpen.Inc()
	return f, info, opened
}

// closeFile closes a file opened by open and returns its token.
func (t *Tailer) closeFile(f *os.File) {
	if err := f.Close(); err != nil {
		t.log.Debug("close failed", "path", f.Name(), "error", err)
	}
	t.m.filesOpen.Dec()
	<-t.slots
}
