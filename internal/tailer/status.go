package tailer

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// File states reported by Status.
const (
	StateShipping = "shipping"  // open; bytes read or readable are not yet acknowledged
	StateIdle     = "idle"      // open and everything up to its size is acknowledged
	StateRotated  = "rotated"   // gone from its path (renamed or deleted), held open until drained
	StateClosed   = "closed"    // descriptor released after close_inactive; reopened when it grows
	StateDeleted  = "deleted"   // closed, and its last link was removed
	StateNotFound = "not_found" // a checkpoint entry whose file has not been found (yet)
)

// FileStatus is one file generation as an operator sees it.
type FileStatus struct {
	Path      string
	Device    uint64
	Inode     uint64
	Offset    int64     // committed offset: everything before it is acknowledged
	Size      int64     // last known size
	Pending   int       // records handed to the pipeline and not yet acknowledged
	LastAck   time.Time // when Offset last moved forward; zero if not since the agent started
	State     string    // one of the State constants
	Unshipped int64     // max(Size-Offset, 0)
}

// Status returns one entry per known file generation and per checkpoint entry
// not matched yet, sorted by path. Unlike Snapshot it has no side effect, so
// any number of readers (the /status endpoint) may call it from any goroutine
// at any time.
func (t *Tailer) Status() []FileStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]FileStatus, 0, len(t.gens)+len(t.restored))
	for _, g := range t.gens {
		g.mu.Lock()
		fs := FileStatus{
			Path:    g.path,
			Device:  g.key.dev,
			Inode:   g.key.ino,
			Offset:  g.tracker.Committed(),
			Size:    g.size,
			Pending: g.tracker.Pending(),
			LastAck: g.tracker.CommittedAt(),
		}
		switch {
		case g.state == genDraining:
			fs.State = StateRotated
		case g.state == genOpen && (fs.Pending > 0 || fs.Offset < fs.Size):
			fs.State = StateShipping
		case g.state == genOpen:
			fs.State = StateIdle
		case g.unlinked:
			fs.State = StateDeleted
		default:
			fs.State = StateClosed
		}
		g.mu.Unlock()
		fs.Unshipped = max(fs.Size-fs.Offset, 0)
		out = append(out, fs)
	}
	for _, st := range t.restored {
		out = append(out, FileStatus{
			Path: st.Path, Device: st.Device, Inode: st.Inode, Offset: st.Offset, Size: st.Size,
			State: StateNotFound, Unshipped: max(st.Size-st.Offset, 0),
		})
	}
	slices.SortFunc(out, func(a, b FileStatus) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Device, b.Device), cmp.Compare(a.Inode, b.Inode))
	})
	return out
}

// WaitAcked blocks until every record this tailer handed to its sink has
// been acknowledged (or dropped by policy), or ctx is done, and returns
// ctx.Err() in the latter case. Call it after Run returned, so no record is
// added meanwhile; a reload uses it before handing the tailer's Snapshot to
// its successor, so the successor neither re-reads acknowledged lines nor
// skips pending ones.
func (t *Tailer) WaitAcked(ctx context.Context) error {
	t.mu.Lock()
	var waits []<-chan struct{}
	for _, g := range t.gens {
		waits = append(waits, g.tracker.Drained())
	}
	t.mu.Unlock()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Unregister removes the tailer's gauges that read its live state
// (logship_file_lag_bytes) from reg, for a pipeline removed by a reload. Its
// counters stay registered and keep their totals.
func (t *Tailer) Unregister(reg prometheus.Registerer) {
	if reg != nil {
		reg.Unregister(t.m.lag)
	}
}
