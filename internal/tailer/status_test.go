package tailer

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
)

// TestStatusAndHandover follows a file through the states Status reports and
// hands the tailer's state to a successor the way a reload does: stop, wait
// for every acknowledgement, restore the Snapshot. The successor ships only
// the lines written after the handover.
func TestStatusAndHandover(t *testing.T) {
	sink := &testSink{}
	missing := checkpoint.FileState{Pipeline: "test", Path: "/nonexistent/x.log", Device: 1, Inode: 2, Offset: 5, Size: 9, Updated: time.Now()}
	h := newHarness(t, config.Pipeline{}, sink, 0, withRestore(missing))
	path := h.path("a.log")
	writeFile(t, path, "l1\nl2\nl3\n")
	h.start()
	h.waitLines(3)
	sink.ackN(1)

	fileStatus := func(tl *Tailer, p string) FileStatus {
		for _, fs := range tl.Status() {
			if fs.Path == p {
				return fs
			}
		}
		return FileStatus{}
	}
	waitFor(t, "status with one line acknowledged", func() bool {
		fs := fileStatus(h.tl, path)
		return fs.Offset == 3 && fs.Size == 9 && fs.Pending == 2
	})
	fs := fileStatus(h.tl, path)
	if fs.State != StateShipping || fs.Unshipped != 6 || fs.LastAck.IsZero() {
		t.Errorf("status %+v: want shipping, 6 unshipped, a last ack time", fs)
	}
	if nf := fileStatus(h.tl, missing.Path); nf.State != StateNotFound || nf.Unshipped != 4 {
		t.Errorf("restored entry status %+v: want not_found with 4 unshipped", nf)
	}

	h.stop()
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := h.tl.WaitAcked(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitAcked with 2 records pending = %v, want deadline exceeded", err)
	}
	sink.ackAll()
	if err := h.tl.WaitAcked(context.Background()); err != nil {
		t.Fatal(err)
	}
	handover := h.tl.Snapshot()

	appendFile(t, path, "l4\n")
	next := &testSink{autoAck: true}
	h2 := newHarness(t, config.Pipeline{Paths: []string{"unused"}}, next, 0, withRestore(handover...))
	h2.retarget(filepath.Join(h.dir, "*.log"))
	h2.start()
	h2.waitLines(1)
	waitFor(t, "successor idle at offset 12", func() bool {
		fs := fileStatus(h2.tl, path)
		return fs.Offset == 12 && fs.State == StateIdle
	})
	if got := next.datas(); !slices.Equal(got, []string{"l4"}) {
		t.Errorf("successor shipped %q, want only [l4]", got)
	}
}
