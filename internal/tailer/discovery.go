package tailer

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
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
		// A parked file still at its path with its size, and read to that
		// size (a partial last line held back counts as read), is left
		// closed; one parked mid-read (its descriptor went to a file that
		// waited longer) is reopened even if nothing was written to it
		// since. One that moved, was missing, or was not
		// found at this path by the last rescan (a new name it could not
		// be opened under, as it waited for a descriptor) may be another
		// file that got its inode, so it is opened and its identity
		// checked below.
		unchanged := g.state == genParked && g.path == c.path && c.info.size == g.size &&
			g.scanEnd >= g.size && t.pathKeys[c.path].key == g.key
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
			// Another file on this inode, or this file truncated and grown
			// past where it was read while it was closed (copytruncate of
			// a parked file): either way the content read so far is gone
			// from here, and a copy of it may still come.
			t.log.Info("file at this inode no longer starts as it did, reading it from the start", "path", c.path, "inode", info.key.ino)
			t.addGhost(ghost{fp: fp, fpLen: fpLen, readEnd: readEnd, lastSize: size, path: c.path, at: now,
				tail: tail, tracker: tracker})
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
			// Another file on this inode, or this one truncated and grown
			// past its checkpointed offset while the agent was away: a copy
			// of the content the entry describes may still come.
			t.log.Info("file at this inode no longer starts as it did, reading it from the start", "path", c.path, "inode", info.key.ino)
			t.addGhost(ghost{fp: rst.Fingerprint, fpLen: rst.FingerprintLen, readEnd: rst.Offset, lastSize: rst.Size, path: c.path, at: now})
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
