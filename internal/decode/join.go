package decode

import (
	"context"
	"sync"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/tailer"
)

// fragment is one line after format decoding: a whole message, or a piece
// of one (more is set when the message continues in the next line).
type fragment struct {
	data      []byte
	more      bool
	ts        time.Time
	stream    string
	truncated bool
	end       int64
	ack       checkpoint.Ack
}

// state is the pending event of one file generation. Its mutex serializes
// Emit (the file's reader goroutine) with Run's timeout flush; it is held
// while events are handed downstream, so they arrive in file order.
type state struct {
	mu     sync.Mutex
	src    *tailer.Source
	fields []Field
	dead   bool      // removed from Decoder.states; look the source up again
	last   time.Time // when the last line arrived

	lineMore bool // the line being continued by the tailer's split parts is a partial

	// The pending event.
	open      bool
	midMsg    bool   // the last fragment said its message continues
	msgStream string // stream of the message being joined from partials
	msg       []byte
	owned     bool // msg is the state's own allocation (not a line's Data)
	ts        time.Time
	stream    string
	end       int64
	ack       checkpoint.Ack
	truncated bool
	cut       bool // counted as oversize already
	lines     int  // messages in the event (multiline)
	partNo    int  // split parts already emitted

	evs []Event // completed events not yet handed downstream
}

// frag decodes ln into a fragment. ok is false when the line is a malformed
// record, shipped as it is.
func (st *state) frag(d *Decoder, ln *tailer.Line) (f fragment, ok bool) {
	f = fragment{data: ln.Data, end: ln.End, ack: ln.Ack, truncated: ln.Truncated}
	splitMore := ln.Part > 0 && !ln.Last // the tailer cut the line: more of it follows
	if ln.Part > 1 {
		// A later part of a line longer than max_line_bytes: no header of
		// its own; it continues the line started by part 1.
		f.more = splitMore || st.lineMore
		if !f.more {
			st.lineMore = false
		}
		return f, true
	}
	msg, ts, stream, partial, ok := d.parse(ln.Data)
	if ln.Part == 1 && d.format == "docker" {
		ok = false // a JSON record cut in parts cannot be decoded
	}
	if !ok {
		st.lineMore = false
		f.more = splitMore
		if st.midMsg {
			st.endMessage(d) // a partial never continues into a malformed record
		}
		return f, false
	}
	if st.midMsg && stream != st.msgStream {
		// Partials of two streams interleaved: ship what was joined so
		// far as its own message rather than mixing streams.
		st.endMessage(d)
	}
	st.lineMore = partial
	f.data, f.ts, f.stream = msg, ts, stream
	f.more = partial || splitMore
	return f, true
}

// endMessage ends the message being joined from partials before its final
// piece arrived.
func (st *state) endMessage(d *Decoder) {
	st.midMsg = false
	if d.start == nil || st.lines >= d.maxLines {
		st.flush(d)
	}
}

// add appends f to the pending event and completes events as f decides.
func (st *state) add(d *Decoder, f fragment) {
	switch {
	case !st.open:
		st.begin(f)
		st.lines = 1
	case st.midMsg:
		st.append(d, f, false)
	case d.start == nil || st.lines >= d.maxLines || d.start.Match(f.data):
		// f starts a new event. (Multiline off: nothing is open here
		// unless a partial was flushed; it starts anew too.)
		st.flush(d)
		st.begin(f)
		st.lines = 1
	default:
		st.append(d, f, true)
		st.lines++
	}
	if !st.midMsg {
		st.msgStream = f.stream
	}
	st.midMsg = f.more
	if !f.more && (d.start == nil || st.lines >= d.maxLines) {
		st.flush(d)
	}
}

// begin opens a new event (or the next split part of one) with f.
func (st *state) begin(f fragment) {
	st.open = true
	st.msg, st.owned = f.data, false
	st.ts, st.stream = f.ts, f.stream
	st.end, st.ack = f.end, f.ack
	st.truncated = f.truncated
}

// append adds f to the open event, with a "\n" before it when sep is set,
// applying the oversize policy at max_line_bytes.
func (st *state) append(d *Decoder, f fragment, sep bool) {
	joined, ok := st.ack.Join(f.ack)
	if !ok {
		// Not the next line of the same tracker: never expected from the
		// tailer; keep both events whole rather than mis-resolve acks.
		d.m.unjoinable.Inc()
		st.flush(d)
		st.begin(f)
		st.lines = 1
		return
	}
	n := len(f.data)
	if sep {
		n++
	}
	if len(st.msg)+n > d.max {
		if !st.cut {
			st.cut = true
			d.m.oversize.Inc()
		}
		if !d.truncate {
			// split: emit what is joined so far as a part; f opens the
			// next part.
			st.emit(true)
			st.partNo++
			st.begin(f)
			return
		}
		room := d.max - len(st.msg)
		if sep && room > 0 {
			st.appendBytes([]byte{'\n'}, room)
			room--
		}
		st.appendBytes(f.data[:min(room, len(f.data))], room)
		st.truncated = true
	} else {
		if sep {
			st.appendBytes([]byte{'\n'}, n)
		}
		st.appendBytes(f.data, len(f.data))
		st.truncated = st.truncated || f.truncated
	}
	st.ack, st.end = joined, f.end
}

// appendBytes appends b to the event's message, copying it into the state's
// own buffer first; grow is the bytes expected to follow (capacity hint).
func (st *state) appendBytes(b []byte, grow int) {
	if len(b) == 0 {
		return
	}
	if !st.owned {
		buf := make([]byte, len(st.msg), len(st.msg)+max(grow, len(b), len(st.msg)))
		copy(buf, st.msg)
		st.msg, st.owned = buf, true
	}
	st.msg = append(st.msg, b...)
}

// flush completes the open event, if any.
func (st *state) flush(d *Decoder) {
	if !st.open {
		return
	}
	st.emit(false)
	st.open, st.midMsg = false, false
	st.msg, st.owned = nil, false
	st.ack = checkpoint.Ack{}
	st.truncated, st.cut = false, false
	st.lines, st.partNo = 0, 0
}

// emit queues the open event for send: a split part that more parts
// follow when split is set, else the whole event or its last part.
func (st *state) emit(split bool) {
	ev := Event{
		Message:   st.msg,
		Time:      st.ts,
		Stream:    st.stream,
		End:       st.end,
		Truncated: st.truncated,
		Fields:    st.fields,
		Ack:       st.ack,
	}
	if split || st.partNo > 0 {
		ev.Part, ev.Last = st.partNo+1, !split
	}
	st.evs = append(st.evs, ev)
}

// abandon gives up the open event and any completed events not handed
// downstream: their acks are abandoned (budget back, checkpoint held before
// them) and the state starts empty.
func (st *state) abandon() {
	for i := range st.evs {
		st.evs[i].Ack.Abandon()
	}
	clear(st.evs)
	st.evs = st.evs[:0]
	if st.open {
		st.ack.Abandon()
	}
	st.open, st.midMsg, st.lineMore = false, false, false
	st.msg, st.owned = nil, false
	st.ack = checkpoint.Ack{}
	st.truncated, st.cut = false, false
	st.lines, st.partNo = 0, 0
}

// send hands the completed events downstream and forgets them.
func (st *state) send(ctx context.Context, d *Decoder) error {
	if len(st.evs) == 0 {
		return nil
	}
	err := d.next.EmitEvents(ctx, st.src, st.evs)
	clear(st.evs)
	st.evs = st.evs[:0]
	return err
}
