package tailer

import "bytes"

// span is one line (or line part) found by splitter.scan, before its bytes
// are copied out of the read buffer.
type span struct {
	from, to  int   // Data is buf[from:to] ("\n" and a trailing "\r" removed)
	end       int64 // file offset just past the line's newline, or past the part
	size      int64 // budget bytes the line keeps until it is acknowledged
	part      int
	last      bool
	truncated bool
	dropped   int64 // bytes cut by the truncate policy
}

// splitter cuts read buffers into lines and applies the oversize policy. It
// is owned by one reader goroutine; it performs no I/O so it can be tested
// and fuzzed on its own.
//
// A line is oversize when more than max raw bytes (a trailing "\r"
// included) precede its newline.
//
//   - split: as soon as max+1 bytes without a newline are known, the first
//     max bytes are emitted as Part 1 (then 2, ...) with End just past the
//     part; the bytes after the last full part, up to the newline, form the
//     final part with Last set and End past the newline. A checkpoint taken
//     after part k therefore resumes at part k+1 (renumbered from 1, since
//     the part counter is not persisted).
//   - truncate: the line is emitted once, when its newline is found, with
//     its first max bytes, Truncated set and End just past the newline; the
//     rest is discarded and counted. No checkpoint ever points inside the
//     line, so a restart re-reads and re-truncates the whole line.
//     The reader discards lines longer than its buffer with scanDiscard and
//     re-reads their first max bytes (see reader.discardStep).
type splitter struct {
	max      int
	truncate bool
	partNo   int // parts already emitted of the current line (split only)
}

// scan splits buf, whose first byte is at file offset off and starts a line
// (or continues a split one). It appends the complete lines and parts to
// spans and returns them with consumed, the number of bytes they cover; the
// rest of buf is a held-back partial line of at most max bytes. discard is
// true under the truncate policy when buf[consumed:] is already longer than
// max without a newline: the caller must skip to the next newline.
//
// The sum of the returned sizes never exceeds consumed.
func (s *splitter) scan(buf []byte, off int64, spans []span) (_ []span, consumed int, discard bool) {
	i := 0
	for i < len(buf) {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			rem := len(buf) - i
			if rem > s.max {
				if s.truncate {
					return spans, i, true
				}
				for rem > s.max {
					spans = s.part(spans, i, off)
					i += s.max
					rem -= s.max
				}
			}
			break
		}
		spans, i = s.line(buf, i, i+j, off+int64(i+j+1), spans)
	}
	return spans, i, false
}

// part appends one full split part that starts at buf index i.
func (s *splitter) part(spans []span, i int, off int64) []span {
	s.partNo++
	return append(spans, span{
		from: i, to: i + s.max,
		end:  off + int64(i+s.max),
		size: int64(s.max),
		part: s.partNo,
	})
}

// line appends the line buf[i:nl] whose terminator (if any) is at index nl
// and that ends at file offset end, and returns the index after it. With
// nl == len(buf) it is the final unterminated line of a closed file.
func (s *splitter) line(buf []byte, i, nl int, end int64, spans []span) ([]span, int) {
	next := min(nl+1, len(buf))
	base := end - int64(next) // file offset of buf[0]
	consumed := int64(next - i)
	if s.truncate && nl-i > s.max {
		return append(spans, span{
			from: i, to: i + s.max, end: end,
			size:      int64(s.max) + 1, // at most consumed, which is > max+1
			truncated: true,
			dropped:   int64(nl - i - s.max),
		}), next
	}
	for nl-i > s.max { // split policy
		spans = s.part(spans, i, base)
		consumed -= int64(s.max)
		i += s.max
	}
	to := nl
	if to > i && buf[to-1] == '\r' {
		to--
	}
	sp := span{from: i, to: to, end: end, size: consumed}
	if s.partNo > 0 {
		sp.part, sp.last = s.partNo+1, true
		s.partNo = 0
	}
	return append(spans, sp), next
}

// final turns the unterminated remainder buf (at file offset off, at most
// max bytes unless truncating) into the last line of a file that will never
// grow again.
func (s *splitter) final(buf []byte, off int64, spans []span) []span {
	if len(buf) == 0 {
		return spans
	}
	spans, _ = s.line(buf, 0, len(buf), off+int64(len(buf)), spans)
	return spans
}
