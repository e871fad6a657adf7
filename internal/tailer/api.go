// Package tailer discovers the files of one pipeline and reads them line by
// line with its own descriptors and offsets. It knows nothing about Kafka: it
// hands complete lines to a Sink, each carrying a checkpoint.Ack, and learns
// what was delivered only through its per-file checkpoint.Tracker.
package tailer

import (
	"context"

	"github.com/logship/logship/internal/checkpoint"
)

// Source identifies the file generation a line came from.
type Source struct {
	Pipeline string
	Path     string // path at discovery time (informative)
	Device   uint64
	Inode    uint64
	// Generation tells apart the contents one inode holds over time (a
	// file truncated, or deleted and its inode reused): the first 32 hex
	// digits of the SHA-256 of the file's first line, newline included, or
	// of its first 1024 bytes if that line is longer. Those bytes are
	// written before any line of the generation is read and never change
	// within it, so every line of a generation carries the same value, in
	// this process and after a restart. (With max_line_bytes under 1 KiB,
	// the first parts of a longer first line may carry shorter hashes.) Set
	// before the generation's first Emit.
	Generation string
}

// Line is one complete line, or one part of a line longer than
// max_line_bytes, read from a file.
type Line struct {
	// Data is the line without its "\n" and without a trailing "\r". The
	// sink may keep it until the Ack is resolved; the tailer never reuses it.
	Data []byte
	// End is the file offset just past the line's newline (or past the part).
	End int64
	// Part is 0 for a whole line; for oversize lines split by policy it is
	// 1, 2, ... and Last marks the final part. Truncated marks a line cut by
	// the truncate policy.
	Part      int
	Last      bool
	Truncated bool
	// Ack must be resolved exactly once, by the sink: Done after the broker
	// acknowledged the record built from this line (or after an explicit,
	// counted drop), Abandon when the sink cannot deliver it.
	Ack checkpoint.Ack
}

// Sink receives lines. Emit is called from a file's reader goroutine with
// lines in file order; it may block to apply backpressure and returns
// ctx.Err() when ctx is done. It must not keep the lines slice after it
// returns (it may keep the Line values).
//
// Ownership of the acks is total: from the call on, every line's Ack is the
// sink's, whatever Emit returns. On success it resolves each one later; when
// it fails, it abandons (checkpoint.Ack.Abandon) every ack it has not handed
// on, before returning — a sink that joins lines into events or hands them
// on in parts is the only party that knows which those are. The reader
// never resolves an ack it gave to Emit; it stops, and the abandoned lines
// are read again from the committed offset by whoever resumes the file.
type Sink interface {
	Emit(ctx context.Context, src *Source, lines []Line) error
}
