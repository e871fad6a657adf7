package tailer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// dirErrRelog spaces the reminders logged while a directory stays unreadable.
const dirErrRelog = 10 * time.Minute

// unlooked is what a rescan could not look at: directories it could not
// list and matched paths it could not stat (permission denied, out of
// descriptors, I/O error). The files there are hidden, not gone.
type unlooked struct {
	dirs  map[string]error
	paths map[string]bool
}

// covers reports whether path lies in a directory that could not be listed
// (at any depth) or could not be looked at itself.
func (u *unlooked) covers(path string) bool {
	if u.paths[path] {
		return true
	}
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		if _, ok := u.dirs[d]; ok {
			return true
		}
		if d == filepath.Dir(d) {
			return false
		}
	}
}

// glob expands the clean absolute pattern pat like filepath.Glob, reading
// the directories itself so that an error is reported instead of looking
// like an empty directory: a directory that does not exist or is not a
// directory yields no match; any other failure to list one is recorded in
// u.dirs (nil u: ignored) and the names it did return are still matched.
// A pattern without meta characters is returned as is (the caller stats
// it).
func glob(pat string, u *unlooked) []string {
	if !hasMeta(pat) {
		return []string{pat}
	}
	dir, file := filepath.Split(pat)
	dir = filepath.Clean(dir)
	dirs := []string{dir}
	if hasMeta(dir) {
		dirs = glob(dir, u)
	}
	var out []string
	for _, d := range dirs {
		names, err := readDirNames(d)
		if err != nil && u != nil {
			u.dirs[d] = err
		}
		for _, n := range names {
			if ok, _ := filepath.Match(file, n); ok {
				out = append(out, filepath.Join(d, n))
			}
		}
	}
	return out
}

// readDirNames returns the sorted names in dir; a missing dir, or one that
// is not a directory, has none and no error.
func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	slices.Sort(names)
	return names, err
}

// hasMeta reports whether path holds a filepath.Match meta character.
func hasMeta(path string) bool { return strings.ContainsAny(path, `*?[\`) }

// dirErrReason is the logship_discovery_errors_total reason for a directory
// that could not be listed.
func dirErrReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return reasonDirPermission
	case tooManyFiles(err):
		return reasonDirEMFILE
	}
	return reasonDirRead
}

// DiscoveryError is a directory of a pipeline's globs that the last rescan
// could not list: the files in it keep their state (they are not taken for
// rotated or deleted) and new ones are not found until it is readable again.
type DiscoveryError struct {
	Path   string    // the directory
	Reason string    // the logship_discovery_errors_total reason
	Error  string    // the error, e.g. permission denied
	Since  time.Time // since when it fails (this reason)
}

// dirErrState is a failing directory as logged and counted.
type dirErrState struct {
	DiscoveryError
	logged time.Time
}

// DiscoveryErrors returns the directories the last rescan could not list,
// sorted by path. Safe from any goroutine.
func (t *Tailer) DiscoveryErrors() []DiscoveryError {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.dirErrs)
}

// noteUnlooked logs and counts the directories of u that newly fail (or
// fail for another reason), reminds of those still failing every
// dirErrRelog, logs those readable again, and publishes the list for
// DiscoveryErrors. Called from the Run goroutine.
func (t *Tailer) noteUnlooked(u *unlooked, now time.Time) {
	pub := make([]DiscoveryError, 0, len(u.dirs))
	for d, err := range u.dirs {
		reason := dirErrReason(err)
		st, ok := t.dirFailing[d]
		switch {
		case !ok || st.Reason != reason:
			st = &dirErrState{DiscoveryError: DiscoveryError{Path: d, Reason: reason, Error: errText(err), Since: now}, logged: now}
			t.dirFailing[d] = st
			t.m.discoveryErrs.WithLabelValues(reason).Inc()
			t.log.Warn("cannot list directory, its files keep their state until it is readable again",
				"dir", d, "reason", reason, "error", err)
		case now.Sub(st.logged) >= dirErrRelog:
			st.logged = now
			t.log.Warn("directory still cannot be listed", "dir", d, "reason", reason, "error", err, "since", st.Since)
		}
		st.Error = errText(err)
		pub = append(pub, st.DiscoveryError)
	}
	for d, st := range t.dirFailing {
		if _, ok := u.dirs[d]; !ok {
			delete(t.dirFailing, d)
			t.log.Info("directory can be listed again", "dir", d, "failed_for", now.Sub(st.Since).Round(time.Millisecond))
		}
	}
	slices.SortFunc(pub, func(a, b DiscoveryError) int { return strings.Compare(a.Path, b.Path) })
	t.mu.Lock()
	t.dirErrs = pub
	t.mu.Unlock()
}

// errText is err without the operation and path os adds.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// keepUnlooked marks as seen the generations this rescan could not look
// for (see unlooked), so that they are neither marked gone nor counted as
// rotated nor forgotten: an unreadable directory hides files, it does not
// delete them. Restored checkpoint entries there are kept as recently seen
// for the same reason. Called from the Run goroutine.
func (t *Tailer) keepUnlooked(u *unlooked, seen map[fileKey]bool, byPath map[string]*generation, now time.Time) {
	if len(u.dirs) == 0 && len(u.paths) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, g := range t.gens {
		if seen[k] {
			continue
		}
		g.mu.Lock()
		path := g.path
		g.mu.Unlock()
		if !u.covers(path) {
			continue
		}
		seen[k] = true
		if byPath[path] == nil {
			byPath[path] = g
		}
	}
	for k, st := range t.restored {
		if u.covers(st.Path) {
			st.Updated = now
			t.restored[k] = st
		}
	}
}
