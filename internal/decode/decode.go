// Package decode is the stage between the tailer and the record builder for
// container log formats and multiline events. A Decoder implements
// tailer.Sink: it parses each line (raw, CRI or Docker json-file), joins
// partial lines (CRI "P" tags, Docker 16 KiB chunks) and multiline events,
// and hands complete Events to the downstream Sink, each with ONE
// checkpoint.Ack that resolves every line it was built from (checkpoint.Ack.Join),
// so a checkpoint never points inside an event.
//
// The decoder is synchronous: Emit decodes and forwards on the caller's
// goroutine. What it holds between calls is bounded per file: at most one
// pending event of at most max_line_bytes. A pending event of a file that
// goes quiet is flushed by Run after the timeout (multiline.timeout, or
// PartialTimeout for partial lines without multiline), so its acks resolve
// and a rotated file can be released.
package decode

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/logthrottle"
	"github.com/logship/logship/internal/tailer"
)

// Event is one decoded log event: a line, a line joined from partials, or a
// multiline event.
type Event struct {
	// Message is the decoded text without a trailing newline; the lines of
	// a multiline event are joined with "\n", partials without separator.
	// The sink may keep it until Ack is resolved.
	Message []byte
	// Time is the timestamp of the event's first line taken from the CRI or
	// Docker record; zero for raw lines and malformed records.
	Time time.Time
	// Stream is "stdout" or "stderr" for container logs, "" otherwise.
	Stream string
	// End is the file offset just past the event's last line: the
	// checkpoint position once Ack is resolved.
	End int64
	// Part is 0 for a whole event. An event longer than max_line_bytes
	// under the split policy is emitted as parts 1, 2, ... cut at line
	// boundaries (the "\n" between two lines at a cut is not repeated);
	// Last marks the final part.
	Part int
	Last bool
	// Truncated marks an event cut at max_line_bytes by the truncate
	// policy, or built from a line the tailer truncated.
	Truncated bool
	// Fields are taken from the file's Kubernetes path (see PathFields).
	// The slice is shared by all events of a file: read only.
	Fields []Field
	// Ack resolves every line the event was built from. The sink must
	// resolve it exactly once, after the broker acknowledged the record
	// (or after an explicit, counted drop).
	Ack checkpoint.Ack
}

// Field is one key/value pair taken from a file's path.
type Field struct{ Key, Value string }

// Sink receives decoded events. EmitEvents is called with events in file
// order for one file at a time — from the file's reader goroutine, or from
// Run for a timeout flush — never concurrently for the same src. It may
// block to apply backpressure and returns ctx.Err() when ctx is done. It
// must not keep evs after it returns (it may keep the Event values).
//
// From the call on, every event's Ack is the sink's, whatever EmitEvents
// returns: it resolves each one (Done), or abandons (checkpoint.Ack.Abandon)
// those it could not hand on when it fails.
type Sink interface {
	EmitEvents(ctx context.Context, src *tailer.Source, evs []Event) error
}

// PartialTimeout is how long a partial line (CRI "P", a Docker chunk without
// its newline) waits for its continuation before it is shipped as it is,
// when multiline is off.
const PartialTimeout = config.DefaultMultilineTimeout

// idleStateAfter is how long the per-file state of a file with nothing
// pending is kept after its last line (its path fields are cached there).
const idleStateAfter = 5 * time.Minute

// Options configure a Decoder.
//
// The pipeline's settings arrive validated and typed (main builds them once
// from the configuration); zero values take the config defaults.
type Options struct {
	Name   string        // the pipeline's name
	Format config.Format // "": raw
	// MaxLineBytes bounds an event; longer ones follow Oversize. 0:
	// config.DefaultMaxLineBytes.
	MaxLineBytes int
	Oversize     config.OversizePolicy // "": split
	Multiline    config.Multiline      // off when StartPattern is empty
	Next         Sink
	Logger       *slog.Logger
	// Metrics are the collectors the decoder counts into under the label
	// pipeline=Name; nil builds the decoder only to validate the pipeline
	// (it counts into collectors nobody gathers).
	Metrics *Metrics
	// LogInterval is the minimum time between two logs of the same
	// condition; default 30s.
	LogInterval time.Duration
}

// Decoder decodes one pipeline's lines. Emit may be called concurrently for
// different sources; Run flushes quiet files' pending events.
type Decoder struct {
	name     string
	format   config.Format
	parse    parser
	start    *regexp.Regexp // nil: multiline off
	maxLines int
	timeout  time.Duration
	max      int
	truncate bool
	next     Sink
	log      *slog.Logger
	m        *metrics

	mu     sync.Mutex
	states map[*tailer.Source]*state

	// malformedLogs keeps "malformed record" to one line per path per
	// Options.LogInterval.
	malformedLogs *logthrottle.Throttle
}

// Enabled reports whether the pipeline of o needs the decoder: a container format
// or multiline. Raw lines without multiline go straight to the record
// builder.
func (o Options) Enabled() bool {
	return (o.Format != "" && o.Format != config.FormatRaw) || o.Multiline.StartPattern != ""
}

// New validates the options and builds a Decoder; it starts nothing.
func New(opts Options) (*Decoder, error) {
	d := &Decoder{
		name:   opts.Name,
		format: opts.Format,
		max:    opts.MaxLineBytes,
		next:   opts.Next,
		states: map[*tailer.Source]*state{},
	}
	if d.next == nil {
		return nil, fmt.Errorf("decode: pipeline %s: no downstream sink", opts.Name)
	}
	// The values were validated by config; an impossible one is an error,
	// not a panic.
	switch opts.Format {
	case "", config.FormatRaw:
		d.format, d.parse = config.FormatRaw, parseRaw
	case config.FormatCRI:
		d.parse = parseCRI
	case config.FormatDocker:
		d.parse = parseDocker
	default:
		return nil, fmt.Errorf("decode: pipeline %s: unknown format %q", opts.Name, opts.Format)
	}
	switch opts.Oversize {
	case "", config.OversizeSplit:
	case config.OversizeTruncate:
		d.truncate = true
	default:
		return nil, fmt.Errorf("decode: pipeline %s: unknown oversize_policy %q", opts.Name, opts.Oversize)
	}
	if d.max <= 0 {
		d.max = int(config.DefaultMaxLineBytes)
	}
	d.timeout = PartialTimeout
	if ml := opts.Multiline; ml.StartPattern != "" {
		re, err := regexp.Compile(ml.StartPattern)
		if err != nil {
			return nil, fmt.Errorf("decode: pipeline %s: multiline.start_pattern: %w", opts.Name, err)
		}
		d.start = re
		d.maxLines = ml.MaxLines
		if d.maxLines <= 0 {
			d.maxLines = config.DefaultMultilineMaxLines
		}
		if ml.Timeout > 0 {
			d.timeout = ml.Timeout
		}
	}
	logEvery := opts.LogInterval
	if logEvery <= 0 {
		logEvery = 30 * time.Second
	}
	d.malformedLogs = logthrottle.New(logEvery, nil)
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d.log = logger.With("component", "decode", "pipeline", opts.Name, "format", d.format)
	m := opts.Metrics
	if m == nil {
		m, _ = NewMetrics(nil) // validation only: counts into nothing gathered
	}
	d.m = m.pipeline(opts.Name, string(d.format))
	return d, nil
}

// Emit implements tailer.Sink: it decodes lines (in file order, from the
// file's reader goroutine) and forwards the events they complete. Lines of
// an unfinished event stay pending, with their acks, until a later line, Run
// or the next Emit completes it. Errors are those of the downstream sink,
// or ctx.Err() when ctx is done; either way the file's pending event is
// abandoned (its lines are read again from the committed offset), as the
// downstream sink abandons the events it could not deliver.
func (d *Decoder) Emit(ctx context.Context, src *tailer.Source, lines []tailer.Line) error {
	if len(lines) == 0 {
		return nil
	}
	st := d.state(src)
	defer st.mu.Unlock()
	if err := ctx.Err(); err != nil {
		// Stopped, and Run may have abandoned this file's pending event:
		// decoding the lines would ship the rest of that event on its own.
		// The lines are read again after the abandoned ones.
		for i := range lines {
			lines[i].Ack.Abandon()
		}
		st.abandon()
		return err
	}
	now := time.Now()
	for i := range lines {
		ln := &lines[i]
		f, ok := st.frag(d, ln)
		if !ok {
			d.malformed(src)
		}
		st.add(d, f)
	}
	st.last = now
	if err := st.send(ctx, d); err != nil {
		st.abandon()
		return err
	}
	if err := ctx.Err(); err != nil {
		// Stopped: Run may have abandoned the pending events already, and
		// nothing would flush this one.
		st.abandon()
		return err
	}
	return nil
}

// state returns src's state, locked.
func (d *Decoder) state(src *tailer.Source) *state {
	for {
		d.mu.Lock()
		st := d.states[src]
		if st == nil {
			st = &state{src: src, fields: PathFields(src.Path)}
			d.states[src] = st
		}
		d.mu.Unlock()
		st.mu.Lock()
		if !st.dead {
			return st
		}
		st.mu.Unlock() // removed by Run meanwhile: look again
	}
}

// Run flushes, every quarter of the timeout, the pending event of each file
// that received no line for the timeout, and forgets the state of files idle
// for a long time. It returns ctx.Err() when ctx is done, or the downstream
// sink's error; either way it first abandons every pending event (a reload
// or shutdown): their bytes go back to the budget, and the checkpoint stays
// before them, so their lines are read again by the pipeline's successor or
// after a restart. It is the decoder's only goroutine.
func (d *Decoder) Run(ctx context.Context) error {
	tick := min(max(d.timeout/4, 10*time.Millisecond), time.Second)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	defer d.abandonAll()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tk.C:
		}
		if err := d.flushQuiet(ctx, time.Now()); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

// flushQuiet flushes the pending events that have been waiting for at least
// the timeout at now.
func (d *Decoder) flushQuiet(ctx context.Context, now time.Time) error {
	for _, st := range d.snapshot() {
		st.mu.Lock()
		quiet := now.Sub(st.last)
		if st.open && quiet >= d.timeout {
			d.m.timeoutFlushes.Inc()
			st.flush(d)
			if err := st.send(ctx, d); err != nil {
				st.mu.Unlock()
				return fmt.Errorf("decode: pipeline %s: flush %s: %w", d.name, st.src.Path, err)
			}
		}
		if !st.open && quiet >= idleStateAfter {
			st.dead = true
			d.mu.Lock()
			delete(d.states, st.src)
			d.mu.Unlock()
		}
		st.mu.Unlock()
	}
	return nil
}

// snapshot returns the per-file states, copied under d.mu and released
// before the caller locks any of them: the lock order is st.mu, then d.mu.
func (d *Decoder) snapshot() []*state {
	d.mu.Lock()
	defer d.mu.Unlock()
	states := make([]*state, 0, len(d.states))
	for _, st := range d.states {
		states = append(states, st)
	}
	return states
}

// abandonAll abandons the pending event of every file.
func (d *Decoder) abandonAll() {
	for _, st := range d.snapshot() {
		st.mu.Lock()
		st.abandon()
		st.mu.Unlock()
	}
}

// malformed counts a record that could not be parsed and logs it at most
// once per interval per file.
func (d *Decoder) malformed(src *tailer.Source) {
	d.m.errors.Inc()
	if n, ok := d.malformedLogs.Allow(src.Path); ok {
		d.log.Warn("malformed record shipped as it is", "path", src.Path, "since_last_log", n)
	}
}

var _ tailer.Sink = (*Decoder)(nil)
