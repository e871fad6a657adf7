package tailer

import (
	"errors"
	"path/filepath"
	"strings"
)

// errOutside reports a path that resolves (through a symlinked file or
// directory) outside every allowed root.
var errOutside = errors.New("resolves outside the allowed roots")

// maxSymlinkHops bounds the symlinks followed while resolving one path, like
// the kernel's limit (40), so that a loop ends with ELOOP.
const maxSymlinkHops = 40

// confiner resolves and opens matched paths without ever leaving its roots:
// the static directory prefixes of the globs plus the configured
// symlink_roots. Each path is resolved once, from a descriptor of the root
// it lies in, and what was resolved is what is opened (openat2 with
// RESOLVE_BENEATH where the kernel has it, else a component-by-component
// O_NOFOLLOW walk that follows symlinks itself); so a symlink flipped
// between an inside and an outside target while it is looked at can never
// make an outside file be opened. The roots themselves are configuration
// and are trusted, symlinks in them included. A confiner holds no
// descriptors between calls and is safe for concurrent use.
type confiner struct {
	roots []string // absolute, clean, without duplicates
}

// within returns the longest root holding the absolute clean path p
// (lexically) and p relative to it, or ok false.
func (c *confiner) within(p string) (root, rel string, ok bool) {
	for _, r := range c.roots {
		var rest string
		switch {
		case p == r:
			rest = "."
		case r == "/" && strings.HasPrefix(p, "/"):
			rest = p[1:]
		case strings.HasPrefix(p, r+"/"):
			rest = p[len(r)+1:]
		default:
			continue
		}
		if len(r) > len(root) || !ok {
			root, rel, ok = r, rest, true
		}
	}
	return root, rel, ok
}

// withinResolved is within for the roots with their own symlinks resolved
// (a root /var/log that is a symlink to /data/log holds /data/log/x too):
// asked only for a path within no root as configured, so the resolution is
// current and costs nothing on the common path.
func (c *confiner) withinResolved(p string) (root, rel string, ok bool) {
	resolved := confiner{}
	for _, r := range c.roots {
		if rr, err := filepath.EvalSymlinks(r); err == nil && rr != r {
			resolved.roots = append(resolved.roots, rr)
		}
	}
	return resolved.within(p)
}

// symlinkTarget is the path a symlink found in the directory dir (a
// resolved, symlink-free path) with content link stands for, followed by the
// components still to resolve after it; clean and absolute.
func symlinkTarget(dir, link string, rest []string) string {
	if !filepath.IsAbs(link) {
		link = filepath.Join(dir, link)
	}
	return filepath.Clean(filepath.Join(append([]string{link}, rest...)...))
}
