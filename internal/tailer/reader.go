package tailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/logship/logship/internal/checkpoint"
)

// reader follows one open file generation. All its fields are owned by its
// goroutine (run); what Snapshot needs is copied to the generation under
// g.mu.
//
// Offsets: lineStart is the first byte not covered by an emitted line (the
// start of the held-back partial line); in normal mode the bytes
// [lineStart, scanned) are known to hold no newline and are re-read with the
// next read, so no partial line is kept in memory (or in the budget) while
// the reader waits. In discard mode (truncate policy, a line longer than
// max_line_bytes) lineStart is the start of the over-long line and scanPos
// the next byte searched for its newline.
type reader struct {
	t   *Tailer
	g   *generation
	f   *os.File
	log *slog.Logger

	src     *Source
	tracker *checkpoint.Tracker
	fp      string
	fpLen   int
	fpBytes []byte // the first fpLen bytes once verified against fp (nil: not yet)
	split   splitter

	lineStart int64
	scanned   int64
	discard   bool
	scanPos   int64
	size      int64 // last known size (fstat, or a short read)
	maxSize   int64 // largest size fstat showed for this content

	spans []span
	lines []Line

	lastGrow time.Time // last time the file was seen growing
	opened   time.Time // when this reader got its descriptor
	poll     time.Duration
	timer    *time.Timer // reused by every wait (nil until the first)
	polled   bool        // the last idle wait ended by its timer, not a wake-up
	// verified is when the first bytes were last found equal to fpBytes.
	// sizeUnproven: size comes from an fstat not yet followed by such a
	// check, so it may be a new content's (not folded into maxSize).
	verified     time.Time
	sizeUnproven bool
	// readToSize: the last read ended at the size fstat reported, so the
	// next look at EOF waits for a wake-up (a later write signals one)
	// instead of calling fstat again at once.
	readToSize bool
	tail       []byte // up to fingerprintMax bytes just before lineStart, for recognising copies
	closing    bool   // exiting because a gone file was drained
	parking    bool   // exiting to free the descriptor for a waiting file
	// unproven: a new file found shorter than a fingerprint, nothing read
	// yet; once it is long enough, mightBeCopy decides whether to hand it
	// back (reconsider) to the rescan, which treats it as never seen.
	unproven   bool
	reconsider bool
}

// sinkError wraps a Sink.Emit failure.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return "sink emit: " + e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// next is the offset of the next byte the reader has not looked at.
func (r *reader) next() int64 {
	if r.discard {
		return r.scanPos
	}
	return r.scanned
}

// run is the reader goroutine. It exits when ctx is done, when a gone file
// has been read to EOF, stayed quiet for close_inactive and all its lines are
// acknowledged, when it yields its descriptor to a waiting file (see
// mayPark), or on a read error (the next rescan reopens the file). It always
// closes the file.
func (r *reader) run(ctx context.Context) {
	defer r.exit()
	for ctx.Err() == nil {
		var err error
		switch {
		case !r.discard && time.Since(r.opened) >= fairSlice && r.mayPark():
			return
		case r.next() >= r.size:
			fresh := !r.readToSize
			r.readToSize = false
			if fresh {
				if err = r.refresh(); err != nil || r.next() < r.size {
					break
				}
			}
			var done bool
			if done, err = r.idle(ctx, fresh); done {
				return
			}
		case r.unproven && r.lineStart == 0 && r.size >= fingerprintMax:
			// Found shorter than a fingerprint, now long enough to tell:
			// a copy being written (copytruncate) must not be read from 0.
			r.unproven = false
			if r.t.mightBeCopy(r.g, r.f) {
				r.reconsider = true
				return
			}
		case r.tracker.Window() >= r.t.maxWindow:
			// Wake as soon as everything pending is acknowledged (the
			// window then collapses), not only after a poll interval.
			r.wait(ctx, r.t.pollMin, r.tracker.Drained())
		case r.discard:
			err = r.discardStep(ctx)
		default:
			r.unproven = r.unproven && r.lineStart == 0
			err = r.readStep(ctx)
		}
		if err != nil {
			r.failed(ctx, err)
			return
		}
	}
}

// failed reports the error that stops the reader.
func (r *reader) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // shutting down: Emit and Acquire return ctx errors
	}
	var se *sinkError
	if errors.As(err, &se) {
		r.t.fail(fmt.Errorf("tailer: pipeline %q: %s: %w", r.t.name, r.f.Name(), err))
		return
	}
	r.t.m.discoveryErrs.WithLabelValues(reasonRead).Inc()
	r.log.Warn("read failed, reopening at next rescan", "error", err)
}

// mayPark reports whether the reader should close its descriptor now for a
// file waiting for one: only while files wait, only for a file still linked
// at its path (a rotated or deleted file is drained through its descriptor
// and never parked), and at a line boundary (the caller checks). It sets
// parking.
func (r *reader) mayPark() bool {
	if r.t.openWaiting.Load() == 0 {
		return false
	}
	r.g.mu.Lock()
	gone, path := r.g.state == genDraining, r.g.path
	r.g.mu.Unlock()
	if gone {
		return false
	}
	info, err := fstat(r.f)
	if err != nil || info.nlink == 0 {
		return false
	}
	at, _, err := r.t.classify(path, false)
	if err != nil || at.key != r.g.key {
		return false // renamed away or replaced: the rescan will mark it gone
	}
	r.parking = true
	return true
}

// exit closes the file and hands the generation back to the tailer.
func (r *reader) exit() {
	unlinked := false
	if info, err := fstat(r.f); err == nil {
		unlinked = info.nlink == 0
	}
	r.t.closeFile(r.f)
	if r.timer != nil {
		r.timer.Stop()
	}
	r.g.mu.Lock()
	switch {
	case r.parking && r.g.state == genDraining:
		r.g.state = genParkedGone // found gone while it yielded
	case r.parking:
		r.g.state = genParked
	default:
		r.g.state = genClosed
	}
	r.g.readEnd = r.lineStart
	r.g.tail = r.tail
	r.g.unlinked = unlinked
	r.g.size = r.size
	r.g.mu.Unlock()
	if r.reconsider {
		r.t.mu.Lock()
		if r.t.gens[r.g.key] == r.g {
			delete(r.t.gens, r.g.key)
		}
		r.t.mu.Unlock()
		r.log.Info("new file may be a copy being written, deciding again at the next rescan")
		r.t.requestRescan()
	}
	if r.t.openWaiting.Load() > 0 {
		r.t.requestHandover() // hand the descriptor on
	}
	if r.closing {
		r.log.Info("file closed after rotation or deletion", "offset", r.lineStart, "unlinked", unlinked)
	}
}

// refresh re-stats the open file at EOF and checks that it is still the same
// content: a size below the read offset, or first bytes that no longer hash
// to the fingerprint, mean it was truncated or rewritten in place, and the
// generation restarts at 0 with a new tracker and Source. It also extends
// the fingerprint as the file grows to fingerprintMax bytes.
//
// The first bytes (one pread) are compared only when that can tell
// something the next step does not: when the fingerprint is incomplete or
// not yet verified, after a signal other than a write event (rescan,
// rename, attribute change; generation.recheck), after a poll that no
// wake-up cut short, or, with no new bytes to read, when they were last
// verified PollMin or more ago. When the file grew, the read that follows
// compares them (headChanged) anyway. So a truncation is still seen at once
// when the size falls below the offset or the new content grows past it;
// content rewritten in place to a size between the offset and the old size
// within PollMin of the last check, and not growing, is seen at the
// reader's next poll (at most PollMax later) instead of at the write event
// (TestRewriteSameSizeNoGrowth).
func (r *reader) refresh() error {
	info, err := fstat(r.f)
	if err != nil {
		return err
	}
	// The largest size this content was seen with, before this look (which
	// may already show a new content): what a truncation may have lost.
	r.maxSize = max(r.maxSize, r.size)
	if info.size > r.size {
		r.lastGrow = time.Now()
		r.poll = r.t.pollMin
	}
	r.size = info.size
	if r.size < r.lineStart || (r.discard && r.size < r.scanPos) {
		return r.restart()
	}
	n := int(min(r.size, fingerprintMax))
	if n < r.fpLen {
		return r.restart()
	}
	recheck := r.g.recheck.Swap(false) || r.polled || n > r.fpLen || len(r.fpBytes) != r.fpLen ||
		(r.next() >= r.size && time.Since(r.verified) >= r.t.pollMin)
	r.polled = false
	if n > 0 && !recheck {
		r.sizeUnproven = r.next() < r.size
	} else if n > 0 {
		var buf [fingerprintMax]byte
		b, err := prefix(r.f, n, &buf)
		if errors.Is(err, errShortFile) {
			return r.restart()
		}
		if err != nil {
			return err
		}
		// Compare the raw prefix once it was verified against the hash:
		// hashing 1 KiB and hex-encoding it at every EOF was a fifth of
		// the CPU with many slowly written files.
		if r.fpLen > 0 {
			if len(r.fpBytes) == r.fpLen {
				if !bytes.Equal(b[:r.fpLen], r.fpBytes) {
					return r.restart()
				}
			} else if hashHex(b[:r.fpLen]) != r.fp {
				return r.restart()
			}
		}
		if n > r.fpLen {
			r.fp, r.fpLen = hashHex(b), n
		}
		r.fpBytes = append(r.fpBytes[:0], b[:r.fpLen]...)
		r.verified, r.sizeUnproven = time.Now(), false
	}
	r.g.mu.Lock()
	r.g.size = r.size
	r.g.fp, r.g.fpLen = r.fp, r.fpLen
	r.g.mu.Unlock()
	return nil
}

// restart begins a new generation of the same inode at offset 0 after a
// truncation. The old content is remembered as a ghost (with the largest
// size it was seen with, maxSize, or how far it was read) so that its copy
// is recognised and its unread bytes counted. The old tracker keeps its
// pending acknowledgements (they still release budget) but leaves the
// checkpoint.
func (r *reader) restart() error {
	seen := max(r.maxSize, r.next())
	r.g.mu.Lock()
	path := r.g.path
	r.g.mu.Unlock()
	r.t.countTruncation(path, r.lineStart, r.size)
	r.t.addGhost(ghost{fp: r.fp, fpLen: r.fpLen, readEnd: r.lineStart, lastSize: seen, path: path, at: time.Now(),
		tail: bytes.Clone(r.tail), tracker: r.tracker})
	r.tail = r.tail[:0]
	src := *r.src
	src.Path, src.Generation = path, "" // set again before the first Emit
	r.src = &src
	r.tracker = checkpoint.NewTracker(0, r.t.budget)
	r.lineStart, r.scanned, r.discard, r.scanPos = 0, 0, false, 0
	r.sizeUnproven, r.readToSize = false, false
	// r.size may still be the old content's (a truncation seen by
	// headChanged after a read): the new content's size comes from fstat.
	if info, err := fstat(r.f); err == nil {
		r.size = info.size
	}
	r.maxSize = r.size
	r.split.partNo = 0
	r.fp, r.fpLen, r.fpBytes = emptyFingerprint, 0, nil
	if n := int(min(r.size, fingerprintMax)); n > 0 {
		if fp, err := fingerprint(r.f, n); err == nil {
			r.fp, r.fpLen = fp, n
		}
	}
	r.g.mu.Lock()
	r.g.src, r.g.tracker = r.src, r.tracker
	r.g.fp, r.g.fpLen = r.fp, r.fpLen
	r.g.size = r.size
	r.g.mu.Unlock()
	return nil
}

// idle runs at EOF. A live file waits for a wake-up or the next poll. A gone
// file (rotated away or deleted) that stayed quiet for close_inactive — since
// its last growth and since it was found gone, so late writes to a renamed
// file are still read — has its unterminated last line flushed, then waits
// until every line is acknowledged, and reports done so the file is closed.
// fresh reports that refresh just ran; without it (EOF known from the last
// read), a gone file returns at once for a refresh before it is closed.
func (r *reader) idle(ctx context.Context, fresh bool) (done bool, err error) {
	r.g.mu.Lock()
	gone, goneSince := r.g.state == genDraining, r.g.goneSince
	r.g.mu.Unlock()
	if !gone {
		if r.mayPark() {
			return true, nil
		}
		r.backoff(r.wait(ctx, r.poll, nil))
		return false, nil
	}
	quiet := r.lastGrow
	if goneSince.After(quiet) {
		quiet = goneSince
	}
	if left := r.t.closeIdle - time.Since(quiet); left > 0 {
		r.backoff(r.wait(ctx, min(r.poll, left), nil))
		return false, nil
	}
	if !fresh {
		return false, nil
	}
	if r.discard || r.lineStart < r.size {
		return false, r.flush(ctx)
	}
	if r.tracker.Pending() == 0 {
		r.closing = true
		return true, nil
	}
	r.backoff(r.wait(ctx, r.poll, r.tracker.Drained()))
	return false, nil
}

// wait blocks for d, a wake-up, drained or ctx, and reports whether the
// timer expired. It reuses one timer (Reset and Stop leave no stale tick
// since Go 1.23).
func (r *reader) wait(ctx context.Context, d time.Duration, drained <-chan struct{}) bool {
	if r.timer == nil {
		r.timer = time.NewTimer(d)
	} else {
		r.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
	case <-r.g.wake:
	case <-drained:
	case <-r.timer.C:
		return true
	}
	r.timer.Stop()
	return false
}

// backoff doubles the poll interval after an idle poll, up to PollMax, and
// records for refresh whether the wait was such a poll.
func (r *reader) backoff(expired bool) {
	r.polled = expired
	if expired {
		r.poll = min(2*r.poll, r.t.pollMax)
	}
}

// readStep reads from lineStart (re-reading the held-back partial line), and
// emits the complete lines. The budget is acquired for the whole read and
// the bytes not kept by emitted lines are released right after it.
func (r *reader) readStep(ctx context.Context) error {
	if err := r.readLines(ctx); err != nil {
		return err
	}
	return r.send(ctx)
}

// readLines is readStep up to handing the lines to the sink: the pooled read
// buffer goes back before a possibly long Emit.
func (r *reader) readLines(ctx context.Context) error {
	start := r.lineStart
	// Re-read the held-back partial line and fill the rest of the reused
	// buffer. Only a partial line longer than half the buffer asks for a
	// whole buffer beyond it (a temporary larger buffer); asking for that
	// every time allocated a new buffer on almost every read.
	want := r.t.bufSize
	if held := int(r.scanned - start); held >= r.t.bufSize/2 {
		want = held + r.t.bufSize
	}
	if lim := max(r.split.max+1, r.t.bufSize); want > lim {
		want = lim
	}
	if limit := r.t.budget.Limit(); int64(want) > limit {
		// Never ask for more than the whole budget unless one line needs it.
		want = max(int(limit), int(r.scanned-start)+1)
	}
	want = int(min(int64(want), r.size-start))
	if err := r.t.budget.Acquire(ctx, int64(want)); err != nil {
		return err
	}
	bp := r.t.bufs.Get().(*[]byte)
	defer r.t.bufs.Put(bp)
	buf := *bp
	if want > len(buf) {
		buf = make([]byte, want) // a line longer than the buffer; dropped after this read
	}
	n, err := r.f.ReadAt(buf[:want], start)
	if err != nil && !errors.Is(err, io.EOF) {
		r.t.budget.Release(int64(want))
		return fmt.Errorf("read %s at %d: %w", r.f.Name(), start, err)
	}
	if r.headChanged() {
		// Truncated and written again since the last look: what was just
		// read may be the new content at the old offsets. Unchanged first
		// bytes after the read prove the read saw the old content.
		r.t.budget.Release(int64(want))
		if !r.sizeUnproven {
			r.maxSize = max(r.maxSize, r.size) // r.size is still the old content's
		}
		return r.restart()
	}
	if len(r.fpBytes) > 0 {
		r.verified, r.sizeUnproven = time.Now(), false
	}
	if n < want {
		r.size = start + int64(n) // shrank: the next refresh decides
	}
	r.readToSize = n == want && start+int64(n) == r.size
	spans, consumed, discard := r.split.scan(buf[:n], start, r.spans[:0])
	var held int64
	for _, sp := range spans {
		held += sp.size
	}
	r.t.budget.Release(int64(want) - held)
	r.noteTail(buf[:consumed])
	r.lineStart = start + int64(consumed)
	if discard {
		r.discard, r.scanPos = true, start+int64(n)
	} else {
		r.scanned = start + int64(n)
	}
	r.t.m.bytesRead.Add(float64(consumed))
	r.collect(buf, spans)
	return nil
}

// discardStep searches the newline that ends an over-long line under the
// truncate policy, without keeping any of its bytes.
func (r *reader) discardStep(ctx context.Context) error {
	want := int(min(int64(r.t.bufSize), r.t.budget.Limit(), r.size-r.scanPos))
	if err := r.t.budget.Acquire(ctx, int64(want)); err != nil {
		return err
	}
	bp := r.t.bufs.Get().(*[]byte)
	defer r.t.bufs.Put(bp)
	buf := *bp
	n, err := r.f.ReadAt(buf[:want], r.scanPos)
	r.t.budget.Release(int64(want))
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s at %d: %w", r.f.Name(), r.scanPos, err)
	}
	if j := bytes.IndexByte(buf[:n], '\n'); j >= 0 {
		nl := r.scanPos + int64(j)
		return r.emitTruncated(ctx, nl, nl+1)
	}
	r.scanPos += int64(n)
	if n < want {
		r.size = r.scanPos
	}
	return nil
}

// emitTruncated emits the over-long line starting at lineStart whose content
// ends at nl, with its first max_line_bytes re-read from the file, Truncated
// set and End = end (just past its newline, or EOF for a closed file).
func (r *reader) emitTruncated(ctx context.Context, nl, end int64) error {
	size := r.split.max
	if err := r.t.budget.Acquire(ctx, int64(size)); err != nil {
		return err
	}
	data := make([]byte, size)
	n, err := r.f.ReadAt(data, r.lineStart)
	if n < size {
		r.t.budget.Release(int64(size))
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s at %d: %w", r.f.Name(), r.lineStart, err)
		}
		r.size = min(r.size, r.lineStart+int64(n)) // shrank: the next refresh decides
		return nil
	}
	r.t.budget.Charge(LineOverhead)
	ack := r.tracker.Add(end, int64(size)+LineOverhead)
	r.t.m.linesRead.Inc()
	r.t.m.linesTruncated.Inc()
	r.t.m.bytesTruncated.Add(float64(nl - r.lineStart - int64(size)))
	r.t.m.bytesRead.Add(float64(end - r.lineStart))
	r.lineStart, r.scanned, r.discard = end, end, false
	r.tail = r.tail[:0] // not kept for a discarded line: copies match by fingerprint only
	r.lines = append(r.lines[:0], Line{Data: data, End: end, Truncated: true, Ack: ack})
	return r.send(ctx)
}

// flush emits the unterminated remainder of a gone file as its last line
// (End = EOF): the file will not be read again, and the line must not be
// lost.
func (r *reader) flush(ctx context.Context) error {
	if r.discard {
		return r.emitTruncated(ctx, r.size, r.size)
	}
	if err := r.flushLines(ctx); err != nil {
		return err
	}
	return r.send(ctx)
}

// flushLines is flush up to handing the line to the sink.
func (r *reader) flushLines(ctx context.Context) error {
	start, rem := r.lineStart, int(r.size-r.lineStart)
	if err := r.t.budget.Acquire(ctx, int64(rem)); err != nil {
		return err
	}
	bp := r.t.bufs.Get().(*[]byte)
	defer r.t.bufs.Put(bp)
	buf := *bp
	if rem > len(buf) {
		buf = make([]byte, rem)
	}
	n, err := r.f.ReadAt(buf[:rem], start)
	if n < rem {
		r.t.budget.Release(int64(rem))
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s at %d: %w", r.f.Name(), start, err)
		}
		r.size = start + int64(n)
		return nil
	}
	spans := r.split.final(buf[:rem], start, r.spans[:0])
	var held int64
	for _, sp := range spans {
		held += sp.size
	}
	r.t.budget.Release(int64(rem) - held)
	r.noteTail(buf[:rem])
	r.lineStart, r.scanned = r.size, r.size
	r.t.m.bytesRead.Add(float64(rem))
	r.collect(buf, spans)
	return nil
}

// headChanged reports whether the file's first bytes differ from fpBytes,
// i.e. the file was truncated (and possibly rewritten) since they were
// verified. Before they are (nil), the next refresh decides.
func (r *reader) headChanged() bool {
	if len(r.fpBytes) == 0 {
		return false
	}
	var buf [fingerprintMax]byte
	b, err := prefix(r.f, len(r.fpBytes), &buf)
	return err != nil || !bytes.Equal(b, r.fpBytes)
}

// noteTail records b, the bytes just consumed (ending at the new lineStart),
// into the last fingerprintMax bytes before lineStart.
func (r *reader) noteTail(b []byte) {
	if len(b) >= fingerprintMax {
		r.tail = append(r.tail[:0], b[len(b)-fingerprintMax:]...)
		return
	}
	if drop := len(r.tail) + len(b) - fingerprintMax; drop > 0 {
		r.tail = append(r.tail[:0], r.tail[drop:]...)
	}
	r.tail = append(r.tail, b...)
}

// LineOverhead is what each line costs in the memory budget beyond its
// bytes: the record in its batch (about 150 bytes with the slice's growth
// room), its two source headers (about 90), its tracker entry (up to 48 with
// the ring's growth room) and its share of the produce-request encoding
// while it is in flight. Without it a budget of short lines would let
// millions of records pile up. Measured in a catch-up heap profile (issue
// 19: 200-byte lines, 3 partitions): about 335 bytes per in-flight line;
// the 128 charged before let the live heap reach twice the budget.
const LineOverhead = 384

// collect copies the lines of one read into one exactly-sized allocation and
// registers each with the tracker (in file order) into r.lines, for send.
func (r *reader) collect(buf []byte, spans []span) {
	r.spans = spans[:0]
	if len(spans) == 0 {
		return
	}
	total := 0
	for _, sp := range spans {
		total += sp.to - sp.from
	}
	block := make([]byte, total)
	r.t.budget.Charge(LineOverhead * int64(len(spans)))
	lines := r.lines[:0]
	off := 0
	for _, sp := range spans {
		n := copy(block[off:], buf[sp.from:sp.to])
		lines = append(lines, Line{
			Data:      block[off : off+n : off+n],
			End:       sp.end,
			Part:      sp.part,
			Last:      sp.last,
			Truncated: sp.truncated,
			Ack:       r.tracker.Add(sp.end, sp.size+LineOverhead),
		})
		off += n
		if sp.part == 1 {
			r.t.m.linesSplit.Inc()
		}
		if sp.truncated {
			r.t.m.linesTruncated.Inc()
			r.t.m.bytesTruncated.Add(float64(sp.dropped))
		}
	}
	r.t.m.linesRead.Add(float64(len(lines)))
	r.lines = lines
}

// setGeneration sets Source.Generation from the file's first line, of which
// at least the first end bytes exist. Should the file no longer hold them
// (truncated meanwhile: the reader restarts on its next look), the current
// fingerprint stands in, and the lines of this one Emit carry a value no
// restart reproduces.
func (r *reader) setGeneration(end int64) {
	var buf [fingerprintMax]byte
	b, err := prefix(r.f, int(min(end, fingerprintMax)), &buf)
	gen := r.fp
	if err == nil {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
		}
		gen = hashHex(b)
	} else {
		r.log.Warn("cannot read the first line for the source generation, using the fingerprint", "error", err)
	}
	src := *r.src
	src.Generation = gen[:32]
	r.src = &src
	r.g.mu.Lock()
	r.g.src = r.src
	r.g.mu.Unlock()
}

// send hands r.lines, with their acks, to the sink and forgets them: the
// sink resolves or abandons every ack whatever Emit returns, so an error
// here leaves nothing for the reader to release.
func (r *reader) send(ctx context.Context) error {
	if len(r.lines) == 0 {
		return nil
	}
	if r.src.Generation == "" {
		r.setGeneration(r.lines[len(r.lines)-1].End)
	}
	err := r.t.sink.Emit(ctx, r.src, r.lines)
	clear(r.lines) // drop references to the data the sink now owns
	r.lines = r.lines[:0]
	if err != nil {
		return &sinkError{err: err}
	}
	return nil
}
