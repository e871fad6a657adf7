package tailer

// Copies made by copytruncate: a file that starts like a known content is
// a copy, read from where that content's reading stopped once its lines
// are acknowledged (ghosts remember contents truncated away); truncations
// are counted with the bytes lost in logrotate's copy→truncate window.

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
	"time"
)

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
		// successor (rename rotation), not its copy. The other one counts
		// whether open or not (closed after close_inactive, parked for the
		// descriptor budget): its truncation is then found by the rescan
		// that reopens it, which leaves a ghost for this copy. Only one
		// gone from its path (draining, parked and gone) is no original.
		if g.key != info.key && g.state.atPath() && g.fpLen == fingerprintMax && g.fp == fp &&
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
// close_inactive + two rescans after their last line was acknowledged and
// no file waited for a descriptor any more, counting their unread bytes as
// lost.
// Called from the Run goroutine.
func (t *Tailer) expireGhosts(now time.Time) {
	ttl := t.closeIdle + 2*t.rescan
	t.mu.Lock()
	defer t.mu.Unlock()
	// A copy may be among the files waiting for a descriptor (not looked
	// at yet): nothing is forgotten until they were.
	waiting := len(t.waiting) > 0
	for i := range t.ghosts {
		if tr := t.ghosts[i].tracker; waiting || tr != nil && tr.Pending() > 0 {
			t.ghosts[i].at = now // a copy may still come
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
