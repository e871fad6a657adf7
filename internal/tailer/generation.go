package tailer

// Generations: one per file content (key plus first bytes), registered by
// the Run goroutine and read by one reader goroutine each.

import (
	"bytes"
	"context"
	"os"
	"time"

	"github.com/logship/logship/internal/checkpoint"
)

// newGeneration registers a new generation of the open file f starting at
// start and starts its reader. It replaces any older generation with the
// same key. hold: the file has no checkpoint entry, and with Persist its
// reader starts only once the rescan saved one (startHeld).
func (t *Tailer) newGeneration(ctx context.Context, path string, f *os.File, info fileInfo, start int64, now time.Time, hold bool) *generation {
	g := &generation{
		key:      info.key,
		wake:     make(chan struct{}, 1),
		path:     path,
		src:      &Source{Pipeline: t.name, Path: path, Device: info.key.dev, Inode: info.key.ino},
		tracker:  checkpoint.NewTracker(start, t.budget),
		fp:       emptyFingerprint,
		size:     info.size,
		lastSeen: now,
	}
	if n := int(min(info.size, fingerprintMax)); n > 0 {
		if fp, err := fingerprint(f, n); err == nil {
			g.fp, g.fpLen = fp, n
		}
	}
	t.mu.Lock()
	t.gens[info.key] = g
	delete(t.copyWaits, info.key)
	t.mu.Unlock()
	if t.fpIndex != nil && g.fpLen == fingerprintMax {
		t.fpIndex[g.fp] = append(t.fpIndex[g.fp], g)
	}
	t.log.Info("file opened", "path", path, "inode", info.key.ino, "offset", start, "size", info.size)
	if hold && t.persist != nil {
		t.held = append(t.held, func() { t.startReader(ctx, g, f, info, start) })
		return g
	}
	t.startReader(ctx, g, f, info, start)
	return g
}

// startHeld saves the checkpoint with Persist when the rescan registered
// files without an entry, then starts their readers: a restart after a
// crash must find them in the checkpoint, or start_at: end would skip what
// they hold. A failed save is logged (at most once a minute) and the files
// are read anyway: the checkpoint's own errors are counted by its writer.
// Called from the Run goroutine at the end of each rescan.
func (t *Tailer) startHeld(ctx context.Context) {
	if t.persist == nil || (len(t.held) == 0 && !t.unsaved) {
		t.unsaved = false
		return
	}
	if ctx.Err() == nil {
		if err := t.persist(); err != nil {
			if suppressed, ok := t.logs.Allow(logPersist); ok {
				t.log.Warn("saving the checkpoint before reading new files failed, reading them anyway", "error", err,
					"suppressed", suppressed)
			}
		}
	}
	for _, start := range t.held {
		start() // exits at once, closing its file, when ctx is done
	}
	t.held, t.unsaved = nil, false
}

// startReader hands f to a new reader goroutine for g starting at offset.
func (t *Tailer) startReader(ctx context.Context, g *generation, f *os.File, info fileInfo, offset int64) {
	g.mu.Lock()
	g.state = genOpen
	g.size = info.size
	r := &reader{
		t:         t,
		g:         g,
		f:         f,
		log:       t.log.With("path", g.path),
		src:       g.src,
		tracker:   g.tracker,
		fp:        g.fp,
		fpLen:     g.fpLen,
		split:     splitter{max: t.maxLine, truncate: t.truncate},
		lineStart: offset,
		scanned:   offset,
		size:      info.size,
		maxSize:   info.size,
		poll:      t.pollMin,
		lastGrow:  time.Now(),
		opened:    time.Now(),
		unproven:  offset == 0 && g.fpLen < fingerprintMax && g.tracker.Window() == 0 && g.tracker.Committed() == 0,
	}
	g.mu.Unlock()
	if r.fpLen > 0 {
		var buf [fingerprintMax]byte
		if b, err := prefix(f, r.fpLen, &buf); err == nil && hashHex(b) == r.fp {
			r.fpBytes = bytes.Clone(b)
		}
	}
	// Exits when ctx is done, after closing a rotated or deleted file that
	// was drained, when it yields its descriptor to a waiting file, or on
	// a read error; it closes f in every case.
	t.wg.Go(func() { r.run(ctx) })
}
