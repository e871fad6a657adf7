package tailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/logship/logship/internal/checkpoint"
)

// candidate is a regular file found by a rescan.
type candidate struct {
	path string
	info fileInfo // of the symlink target for symlinks
}

// errChanged reports a path that changed between stat and open.
var errChanged = errors.New("file changed while opening")

// excluded reports whether path matches an exclude glob, by base name or full
// path.
func (t *Tailer) excluded(path string) bool {
	base := filepath.Base(path)
	for _, ex := range t.excludes {
		if ok, _ := filepath.Match(ex, base); ok {
			return true
		}
		if ok, _ := filepath.Match(ex, path); ok {
			return true
		}
	}
	return false
}

// matches reports whether path matches one of the path globs and no exclude.
func (t *Tailer) matches(path string) bool {
	for _, pat := range t.patterns {
		if ok, _ := filepath.Match(pat, path); ok {
			return !t.excluded(path)
		}
	}
	return false
}

// matchesDir reports whether path may be a directory holding matches.
func (t *Tailer) matchesDir(path string) bool {
	for _, d := range t.dirPats {
		if ok, _ := filepath.Match(d, path); ok {
			return true
		}
	}
	return false
}

// rescanOnce is one full discovery pass, the source of truth: it refreshes
// the directory watches, opens new files, reopens known ones that came back,
// marks the generations not found any more as gone, counts rotations and
// forgets what is no longer needed. Called only from the Run goroutine.
func (t *Tailer) rescanOnce(ctx context.Context, w *fsnotify.Watcher) {
	initial := t.scans == 0
	t.scans++
	now := time.Now()
	defer t.startHeld(ctx) // after t.mu is released below
	t.updateWatches(w)
	cands, unseen := t.discover()
	// At start-up, checkpointed files go first: one truncated while the
	// agent was stopped must be known as such before its copy is looked at.
	var restored map[fileKey]bool
	if initial {
		t.mu.Lock()
		restored = make(map[fileKey]bool, len(t.restored))
		for k := range t.restored {
			restored[k] = true
		}
		t.mu.Unlock()
	}
	// Files waiting for a descriptor go first, the longest waiting first, so
	// that every file makes progress when there are more than max_open_files.
	slices.SortStableFunc(cands, func(a, b candidate) int {
		wa, oka := t.waiting[a.path]
		wb, okb := t.waiting[b.path]
		switch {
		case oka && okb:
			return wa.Compare(wb)
		case oka:
			return -1
		case okb:
			return 1
		case restored[a.info.key] && !restored[b.info.key]:
			return -1
		case restored[b.info.key] && !restored[a.info.key]:
			return 1
		}
		return 0
	})
	prevWaiting := t.waiting
	t.waiting = make(map[string]time.Time)
	t.fpIndex = nil

	seen := make(map[fileKey]bool, len(cands))
	present := make(map[fileKey]bool, len(cands))
	byPath := make(map[string]*generation, len(cands))
	for _, c := range cands {
		if ctx.Err() != nil {
			return
		}
		present[c.info.key] = true
		if seen[c.info.key] {
			// Another name of a file already handled (a symlink or hard
			// link): never opened twice, but its events wake the reader.
			t.mu.Lock()
			if g := t.gens[c.info.key]; g != nil {
				byPath[c.path] = g
			}
			t.mu.Unlock()
			continue
		}
		g, denied := t.handle(ctx, c, initial, now)
		if _, was := prevWaiting[c.path]; was && g != nil && !denied {
			t.openWaiting.Add(-1) // readers stop yielding for it at once
		}
		if denied {
			since, ok := prevWaiting[c.path]
			if !ok {
				since = now
				t.m.openWaits.Inc()
			}
			t.waiting[c.path] = since
		}
		if g != nil {
			seen[c.info.key] = true
			byPath[c.path] = g
		}
	}
	t.openWaiting.Store(int64(len(t.waiting)))
	t.keepUnlooked(unseen, seen, byPath, now)
	t.noteUnlooked(unseen, now)
	for k, since := range t.copyPending {
		if !seen[k] && now.Sub(since) > t.closeIdle+t.rescan {
			delete(t.copyPending, k)
		}
	}
	t.expireGhosts(now)

	for path, g := range byPath {
		if old, ok := t.pathKeys[path]; ok && old.key != g.key {
			t.m.rotations.Inc()
			t.log.Info("file rotated", "path", path, "old_inode", old.key.ino, "inode", g.key.ino)
		}
		t.pathKeys[path] = pathKey{key: g.key, seen: now}
	}
	for path, pk := range t.pathKeys {
		if now.Sub(pk.seen) > t.forget {
			delete(t.pathKeys, path)
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	t.byPath = byPath
	for k := range t.copyWaits {
		if !present[k] {
			delete(t.copyWaits, k) // deleted or renamed out of the globs before it was read
		}
	}
	for k, g := range t.gens {
		if seen[k] || present[k] {
			continue // present at a matched path, opened or waiting for a descriptor: not gone
		}
		g.mu.Lock()
		switch {
		case g.state == genOpen:
			g.state, g.goneSince = genDraining, now
			g.signal()
			t.log.Debug("file gone from its path, draining", "path", g.path, "inode", k.ino)
		case g.state == genParked:
			// Closed for the descriptor budget, then renamed out of the
			// globs or deleted: whatever was written to it after it was
			// closed cannot be read.
			g.state, g.goneSince = genParkedGone, now
			t.m.discoveryErrs.WithLabelValues(reasonGoneParked).Inc()
			t.log.Warn("file left its path while closed for the descriptor budget, later writes to it are not read",
				"path", g.path, "inode", k.ino, "offset", g.readEnd, "max_open_files", cap(t.slots))
		case !g.state.running() && g.tracker.Pending() == 0 && (g.reported || now.Sub(g.lastSeen) > t.forget):
			delete(t.gens, k)
			if !g.unlinked {
				t.forgetUnread(g.path, k, g.readEnd, g.size)
			}
		}
		g.mu.Unlock()
	}
	for k, st := range t.restored {
		switch {
		case now.Sub(st.Updated) > t.forget:
			delete(t.restored, k)
			t.forgetUnread(st.Path, k, st.Offset, st.Size)
		case initial && st.Size > st.Offset && !present[k]:
			t.log.Warn("checkpointed file not found, its unread bytes are lost unless it comes back",
				"path", st.Path, "inode", k.ino, "offset", st.Offset, "size", st.Size, "forget_after", t.forget)
		}
	}
}

// forgetUnread counts and logs the bytes a forgotten file was known to hold
// beyond what was read (its last known size minus its offset). Called with
// t.mu held, from the Run goroutine.
func (t *Tailer) forgetUnread(path string, k fileKey, offset, size int64) {
	if size <= offset {
		return
	}
	t.m.forgottenUnread.Add(float64(size - offset))
	t.log.Warn("forgot a file that was not read to its end", "path", path, "inode", k.ino, "offset", offset, "size", size,
		"lost_bytes", size-offset)
}

// handle brings one discovered file under a reader and returns its
// generation, or nil when it was not opened (now): it could not be opened
// (retried at the next rescan; denied reports that it waits for a
// descriptor), or it is a fresh copy of a live file whose truncation is
// awaited.
func (t *Tailer) handle(ctx context.Context, c candidate, initial bool, now time.Time) (_ *generation, denied bool) {
	t.mu.Lock()
	g := t.gens[c.info.key]
	rst, hasRst := t.restored[c.info.key]
	if hasRst {
		// Present at a matched path: never forgotten while it waits for a
		// descriptor (its Updated is not rewritten while it is idle).
		rst.Updated = now
		t.restored[c.info.key] = rst
	}
	t.mu.Unlock()

	if g != nil {
		g.mu.Lock()
		g.lastSeen = now
		// A parked file still at its path with its size is left closed;
		// one that moved, was missing, or was not found at this path by
		// the last rescan (a new name it could not be opened under, as it
		// waited for a descriptor) may be another file that got its
		// inode, so it is opened and its identity checked below.
		unchanged := g.state == genParked && g.path == c.path && c.info.size == g.size &&
			t.pathKeys[c.path].key == g.key
		if g.path != c.path {
			t.log.Debug("file renamed", "path", c.path, "old_path", g.path, "inode", g.key.ino)
			g.path = c.path
		}
		switch g.state {
		case genDraining:
			g.state = genOpen
			g.signal()
		case genParkedGone:
			g.state = genParked
		}
		running, unlinked, fp, fpLen, readEnd := g.state.running(), g.unlinked, g.fp, g.fpLen, g.readEnd
		size, tail, tracker := g.size, g.tail, g.tracker
		g.mu.Unlock()
		if running || unchanged {
			return g, false // a parked file is reopened once it changes
		}
		f, info, res := t.open(c)
		if res != opened {
			return nil, res == waitSlot
		}
		if unlinked {
			// The old file is gone for good: this inode now holds a new one.
			return t.newGeneration(ctx, c.path, f, info, 0, now, false), false
		}
		// A closed generation found again (parked, renamed back under a
		// matched name, or its reader stopped on a read error): reopen it
		// where it stopped if it is still the same content.
		switch matchState(f, info.size, fp, fpLen, readEnd) {
		case resume:
			t.startReader(ctx, g, f, info, readEnd)
			return g, false
		case different:
			t.log.Info("inode reused by a different file, reading from the start", "path", c.path, "inode", info.key.ino)
		case truncated:
			// Closed with lines in flight (descriptor budget, read error):
			// its copy must wait for them like the copy of a live file.
			t.countTruncation(c.path, readEnd, info.size)
			t.addGhost(ghost{fp: fp, fpLen: fpLen, readEnd: readEnd, lastSize: size, path: c.path, at: now,
				tail: tail, tracker: tracker})
		}
		return t.newGeneration(ctx, c.path, f, info, 0, now, false), false
	}

	f, info, res := t.open(c)
	if res != opened {
		return nil, res == waitSlot
	}
	start := int64(0)
	switch {
	case hasRst:
		switch matchState(f, info.size, rst.Fingerprint, rst.FingerprintLen, rst.Offset) {
		case resume:
			start = rst.Offset
		case truncated:
			t.countTruncation(c.path, rst.Offset, info.size)
			t.addGhost(ghost{fp: rst.Fingerprint, fpLen: rst.FingerprintLen, readEnd: rst.Offset, lastSize: rst.Size, path: c.path, at: now})
		default:
			t.log.Info("inode reused by a different file, reading from the start", "path", c.path, "inode", info.key.ino)
		}
		t.mu.Lock()
		delete(t.restored, info.key)
		t.mu.Unlock()
	case initial && t.startEnd:
		// start_at: end applies to the files present at start-up; files
		// that appear later are new and are read from the beginning. The
		// copy of a checkpointed file truncated while the agent was stopped
		// is not new: it is read from where the original stopped.
		start = lastLineStart(f, info.size, t.maxLine)
		if info.size >= fingerprintMax {
			if fp, err := fingerprint(f, fingerprintMax); err == nil {
				if s, found, wait := t.ghostCopy(c, f, info, fp, now); found && wait {
					t.closeFile(f)
					return nil, false
				} else if found {
					start = s
				}
			}
		}
	default:
		var ok bool
		if start, ok = t.copyStart(c, f, info, now); !ok {
			t.closeFile(f)
			return nil, false
		}
	}
	// A file with a checkpoint entry resumes (or restarts) from it after a
	// crash; one without must be saved before it is read (start_at: end).
	return t.newGeneration(ctx, c.path, f, info, start, now, !hasRst), false
}

// copyStart decides where a file never seen before starts: 0, unless its
// first fingerprintMax bytes equal those of a known content, i.e. it is a
// copy made by copytruncate. A copy of content that was truncated away
// starts where reading that content stopped, once those lines are
// acknowledged; the bytes the original held beyond both are counted as
// lost. A file starting like one still read is deferred (ok false) until
// that file's reader has seen the truncation copytruncate does next. After
// close_inactive + rescan_interval without one it starts at 0 (a file of its
// own: duplicates at worst, never loss), unless the other file no longer
// starts with those bytes (truncated, its reader held up by backpressure):
// then it keeps waiting for that reader.
func (t *Tailer) copyStart(c candidate, f *os.File, info fileInfo, now time.Time) (start int64, ok bool) {
	if info.size < fingerprintMax {
		return 0, true // too short to tell a copy from a file that merely starts alike
	}
	fp, err := fingerprint(f, fingerprintMax)
	if err != nil {
		return 0, true
	}
	if start, found, wait := t.ghostCopy(c, f, info, fp, now); found {
		return start, !wait
	}
	if t.fpIndex == nil {
		t.fpIndex = t.indexFingerprints()
	}
	var live *generation
	livePath := ""
	for _, g := range t.fpIndex[fp] {
		g.mu.Lock()
		// A file at the path the other one had at the last rescan is its
		// successor (rename rotation), not its copy.
		if g.key != info.key && g.state == genOpen && g.fpLen == fingerprintMax && g.fp == fp &&
			t.pathKeys[c.path].key != g.key {
			live, livePath = g, g.path
		}
		g.mu.Unlock()
		if live != nil {
			break
		}
	}
	if live == nil {
		delete(t.copyPending, info.key)
		return 0, true
	}
	since, pending := t.copyPending[info.key]
	if !pending || now.Sub(since) < t.closeIdle+t.rescan {
		if !pending {
			t.copyPending[info.key] = now
		}
		live.signal() // let the original's reader look for the truncation now
		return 0, false
	}
	if t.liveTruncated(livePath, live.key, fp) {
		// The other file no longer starts with these bytes: truncated, its
		// reader held up (e.g. by backpressure during a broker outage)
		// before it could see it. Wait for that reader.
		live.signal()
		return 0, false
	}
	// No truncation followed: not copytruncate. Two files may well start
	// alike (and a plain cp is a file of its own): read it from the start.
	delete(t.copyPending, info.key)
	t.log.Info("file starts like another one but no truncation followed, reading it from the start",
		"path", c.path, "other", livePath)
	return 0, true
}

// ghostCopy looks for the truncated content f is a copy of: the same first
// fingerprintMax bytes (fp) and, when f reaches the content's read offset,
// the same bytes before it. found reports a match. wait reports that lines
// read from the original are not all acknowledged yet: the copy's
// checkpoint would be ahead of Kafka, so it is recorded in copyWaits and
// decided again at the next rescan. Otherwise the content is consumed and
// start is where the copy is read from; the bytes the original held beyond
// both are counted as lost. Called from the Run goroutine.
func (t *Tailer) ghostCopy(c candidate, f *os.File, info fileInfo, fp string, now time.Time) (start int64, found, wait bool) {
	t.mu.Lock()
	for i, gh := range t.ghosts {
		if gh.fpLen == fingerprintMax && gh.fp == fp && sameBytes(f, info.size, gh.readEnd, gh.tail) {
			if gh.tracker != nil && gh.tracker.Pending() > 0 {
				// The copy's checkpoint will say readEnd: it must not be
				// ahead of what the original's lines got acknowledged.
				// Meanwhile the checkpoint holds it at what was.
				if _, ok := t.copyWaits[info.key]; !ok {
					t.unsaved = true
				}
				t.copyWaits[info.key] = copyWait{path: c.path, fp: fp, size: info.size, original: gh.tracker, seen: now}
				t.mu.Unlock()
				return 0, true, true
			}
			t.ghosts = slices.Delete(t.ghosts, i, i+1)
			t.mu.Unlock()
			delete(t.copyPending, info.key)
			start = min(gh.readEnd, info.size)
			lost := gh.lastSize - max(gh.readEnd, info.size)
			if lost > 0 {
				t.m.truncationLost.Add(float64(lost))
			}
			t.m.copies.Inc()
			t.log.Info("file is a copy of a truncated file, reading it from where the original stopped",
				"path", c.path, "original", gh.path, "offset", start, "size", info.size, "lost_bytes", max(lost, 0))
			return start, true, false
		}
	}
	t.mu.Unlock()
	return 0, false, false
}

// sameBytes reports whether f (of size size) holds want just before end, or
// is shorter than end (nothing to compare: the fingerprint decides).
func sameBytes(f *os.File, size, end int64, want []byte) bool {
	if size < end || len(want) == 0 {
		return true
	}
	if int64(len(want)) > end {
		return false
	}
	got := make([]byte, len(want))
	if n, _ := f.ReadAt(got, end-int64(len(want))); n < len(got) {
		return false
	}
	return bytes.Equal(got, want)
}

// liveTruncated reports whether the file key at path no longer starts with
// the fingerprintMax bytes hashing to fp, i.e. it was truncated (or cannot
// be checked now, e.g. EMFILE: assume so and ask again later).
func (t *Tailer) liveTruncated(path string, key fileKey, fp string) bool {
	o, err := t.conf.open(path)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errOutside)
	}
	defer o.Close()
	info, err := fstat(o)
	if err != nil {
		return true
	}
	if info.key != key {
		return false // replaced at its path: the rescan deals with it
	}
	got, err := fingerprint(o, fingerprintMax)
	return err != nil || got != fp
}

// indexFingerprints maps the full-length fingerprints of the known
// generations to them, for copyStart; built at most once per rescan (and
// extended by newGeneration) so that many new files do not each scan all
// generations. Called from the Run goroutine.
func (t *Tailer) indexFingerprints() map[string][]*generation {
	idx := make(map[string][]*generation)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, g := range t.gens {
		g.mu.Lock()
		if g.fpLen == fingerprintMax {
			idx[g.fp] = append(idx[g.fp], g)
		}
		g.mu.Unlock()
	}
	return idx
}

// addGhost remembers a content truncated away; safe from any goroutine.
func (t *Tailer) addGhost(gh ghost) {
	t.mu.Lock()
	t.ghosts = append(t.ghosts, gh)
	t.mu.Unlock()
	t.requestRescan() // its copy, if any, is usually there already
}

// expireGhosts forgets truncated contents no copy was found for within
// close_inactive + two rescans after their last line was acknowledged,
// counting their unread bytes as lost.
// Called from the Run goroutine.
func (t *Tailer) expireGhosts(now time.Time) {
	ttl := t.closeIdle + 2*t.rescan
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.ghosts {
		if tr := t.ghosts[i].tracker; tr != nil && tr.Pending() > 0 {
			t.ghosts[i].at = now // a copy may still come once these are acknowledged
		}
	}
	t.ghosts = slices.DeleteFunc(t.ghosts, func(gh ghost) bool {
		if gh.fpLen == fingerprintMax && now.Sub(gh.at) < ttl {
			return false
		}
		if lost := gh.lastSize - gh.readEnd; lost > 0 {
			t.m.truncationLost.Add(float64(lost))
			t.log.Warn("bytes of a truncated file were never read", "path", gh.path, "offset", gh.readEnd, "size", gh.lastSize, "lost_bytes", lost)
		}
		return true
	})
}

// countTruncation counts and logs a file found shorter than its offset.
func (t *Tailer) countTruncation(path string, offset, size int64) {
	t.m.truncations.Inc()
	t.log.Info("file truncated, reading from the start", "path", path, "offset", offset, "size", size)
}

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
		if err := t.persist(); err != nil && time.Since(t.persistLog) >= time.Minute {
			t.persistLog = time.Now()
			t.log.Warn("saving the checkpoint before reading new files failed, reading them anyway", "error", err)
		}
	}
	for _, start := range t.held {
		start() // exits at once, closing its file, when ctx is done
	}
	t.held, t.unsaved = nil, false
}

// mightBeCopy reports whether the first fingerprintMax bytes of a file that
// was too short to tell when it was found (a copy being written: cp creates
// it empty) now equal a truncated content or another file still read.
// Called from a reader goroutine before its first line.
func (t *Tailer) mightBeCopy(g *generation, f *os.File) bool {
	fp, err := fingerprint(f, fingerprintMax)
	if err != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, gh := range t.ghosts {
		if gh.fpLen == fingerprintMax && gh.fp == fp {
			return true
		}
	}
	for _, o := range t.gens {
		if o == g {
			continue
		}
		o.mu.Lock()
		same := o.state.running() && o.fpLen == fingerprintMax && o.fp == fp
		o.mu.Unlock()
		if same {
			return true
		}
	}
	return false
}

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
			if time.Since(t.emfileLog) >= time.Minute {
				t.emfileLog = time.Now()
				t.log.Warn("out of file descriptors, waiting for open files to close", "path", c.path, "error", err,
					"max_open_files", cap(t.slots))
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

// discover expands the path globs and returns the regular files, in glob
// order, skipping excluded paths, and counting (once per path) matches that
// are not regular files or dangling symlinks. Non-regular files are never
// opened. It also returns what it could not look at: directories it could
// not list and matches it could not stat.
func (t *Tailer) discover() ([]candidate, *unlooked) {
	var out []candidate
	seen := make(map[string]bool)
	u := &unlooked{dirs: make(map[string]error), paths: make(map[string]bool)}
	for _, pat := range t.patterns {
		matches := glob(pat, u)
		// Below a wildcard directory a matched directory may be a symlink
		// leading anywhere: resolve every match, not only symlinked files.
		deep := filepath.Dir(pat) != staticRoot(pat)
		for _, path := range matches {
			if seen[path] || t.excluded(path) {
				continue
			}
			seen[path] = true
			info, reason, err := t.classify(path, deep)
			if reason == "" && err != nil {
				continue // vanished meanwhile
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				u.paths[path] = true // there, but cannot be looked at now
			}
			if reason != "" {
				if t.skipped[path] != reason {
					t.skipped[path] = reason
					t.m.discoveryErrs.WithLabelValues(reason).Inc()
					t.log.Info("skipping matched path", "path", path, "reason", reason, "error", err)
				}
				continue
			}
			delete(t.skipped, path)
			out = append(out, candidate{path: path, info: info})
		}
	}
	for path := range t.skipped {
		if !seen[path] {
			delete(t.skipped, path)
		}
	}
	return out, u
}

// classify looks at path without following a symlink. A symlink, and any
// match below a wildcard directory (which may itself be a symlink leading
// anywhere), is resolved beneath the roots by the confiner: it must lead to
// a regular file inside them, and its identity is that of what the
// resolution found, never of a second lookup. It returns a skip reason, or
// "" with err set when the path disappeared.
func (t *Tailer) classify(path string, deep bool) (fileInfo, string, error) {
	lfi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fileInfo{}, "", err
		}
		return fileInfo{}, reasonStat, err
	}
	link := lfi.Mode()&fs.ModeSymlink != 0
	if !link && !deep {
		if !lfi.Mode().IsRegular() {
			return fileInfo{}, reasonNotRegular, nil
		}
		info, err := toFileInfo(lfi)
		if err != nil {
			return fileInfo{}, reasonStat, err
		}
		return info, "", nil
	}
	info, err := t.conf.stat(path)
	switch {
	case errors.Is(err, errOutside):
		return fileInfo{}, reasonOutside, nil
	case err != nil && !link && errors.Is(err, fs.ErrNotExist):
		return fileInfo{}, "", err
	case err != nil && link:
		return fileInfo{}, reasonSymlink, err // dangling, a loop, ...
	case err != nil:
		return fileInfo{}, reasonStat, err
	case !info.regular && link:
		return fileInfo{}, reasonSymlink, nil
	case !info.regular:
		return fileInfo{}, reasonNotRegular, nil
	}
	return info, "", nil
}

// staticRoot is the longest directory prefix of the glob pat without
// pattern characters.
func staticRoot(pat string) string {
	dir := filepath.Dir(pat)
	for strings.ContainsAny(dir, `*?[\`) {
		dir = filepath.Dir(dir)
	}
	return dir
}

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
	var lastLog time.Time
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
			if time.Since(lastLog) >= time.Minute {
				lastLog = time.Now()
				t.log.Warn("file watcher error, rescanning", "error", err)
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

// lastLineStart returns where a file read "from the end" starts: just after
// its last newline, so that a line being written is shipped whole; size when
// no newline is found within the last maxLine bytes; 0 when the whole file is
// one unterminated line of at most maxLine bytes.
func lastLineStart(f *os.File, size int64, maxLine int) int64 {
	const chunk = 64 << 10
	buf := make([]byte, min(chunk, size))
	limit := max(0, size-int64(maxLine)-1)
	for end := size; end > limit; {
		n := min(int64(len(buf)), end-limit)
		if got, _ := f.ReadAt(buf[:n], end-n); int64(got) < n {
			return size // shrank meanwhile; the reader will notice
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				return end - n + i + 1
			}
		}
		end -= n
	}
	if limit == 0 {
		return 0
	}
	return size
}
