package kafkatest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
)

// Header is a record header as read back by ReadAll.
type Header struct {
	Key   string
	Value []byte // nil for a null header value
}

// ReadAll returns every record of topic from the start of each partition up
// to the high watermarks taken when it was called, ordered by partition then
// offset, each exactly once. Partitions are read concurrently (default
// deadline 5 minutes when ctx has none); a failed read is retried from the
// next offset until ctx ends.
//
// The records themselves are read by kcat (librdkafka, written in C): a
// client that shares no code with the producer under test, so a fault in
// kafka-go's protocol code cannot hide in the tests that check it. kcat
// prints a JSON envelope per record; readers here reject a malformed read
// (an envelope that does not parse, another topic or partition, an offset
// out of range, repeated or going backwards) with an error rather than
// returning it. kcat must be installed (scripts/setup).
func (c *Cluster) ReadAll(ctx context.Context, topic string) ([]Message, error) {
	ctx, cancel := withDefaultTimeout(ctx, 5*time.Minute)
	defer cancel()
	ranges, err := c.offsetRanges(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: read %s: %w", topic, err)
	}
	results := make([][]Message, len(ranges))
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range ranges {
		// Exits when the partition is read up to its watermark or gctx ends.
		g.Go(func() error {
			msgs, err := c.kcatPartition(gctx, topic, r.partition.ID, r.first, r.end)
			results[i] = msgs
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("kafkatest: read %s: %w", topic, err)
	}
	var out []Message
	for _, m := range results {
		out = append(out, m...)
	}
	return out, nil
}

// kcatPartition reads partition [first, end) of topic with kcat, running it
// again from the next offset after a failure until ctx ends.
func (c *Cluster) kcatPartition(ctx context.Context, topic string, partition int, first, end int64) ([]Message, error) {
	var (
		msgs  []Message
		last  error
		short int // clean kcat runs that stopped below end
	)
	next := first
	err := pollUntil(ctx, 200*time.Millisecond, func() (bool, error) {
		if next >= end {
			return true, nil
		}
		got, err := c.kcatOnce(ctx, topic, partition, next, end)
		for _, m := range got {
			if m.Offset >= next && m.Offset < end {
				msgs = append(msgs, m)
				next = m.Offset + 1
			}
		}
		if errors.Is(err, errMalformed) {
			return false, err
		}
		if err != nil {
			last = err
			return false, nil
		}
		if next < end {
			// Below the high watermark every offset holds a record (no
			// compaction, no transactions here): a clean stop short of it
			// is retried, and fails the read if it persists.
			if short++; short == 3 {
				return false, fmt.Errorf("%w: the partition ends at offset %d, below its high watermark", errMalformed, next)
			}
			last = fmt.Errorf("kcat stopped at offset %d", next)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("partition %d at offset %d of [%d,%d): %w (last: %v)", partition, next, first, end, err, last)
	}
	return msgs, nil
}

var errMalformed = errors.New("malformed read")

// kcatOnce runs one kcat consumer on partition from offset from, up to
// end-from records or the end of the partition, whichever comes first.
func (c *Cluster) kcatOnce(ctx context.Context, topic string, partition int, from, end int64) ([]Message, error) {
	var brokers []string
	for _, n := range c.runningNodes() {
		brokers = append(brokers, n.addr())
	}
	if len(brokers) == 0 {
		return nil, errors.New("no running node")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", "-C", "-q", "-J", "-e",
		"-b", strings.Join(brokers, ","), "-t", topic, "-p", strconv.Itoa(partition),
		"-o", strconv.FormatInt(from, 10), "-c", strconv.FormatInt(end-from, 10),
		"-X", "topic.metadata.refresh.interval.ms=1000", "-X", "fetch.wait.max.ms=100")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kcat (install it with scripts/setup): %w", err)
	}
	msgs, perr := parseKcat(bufio.NewReaderSize(out, 1<<20), topic, partition, from)
	if perr != nil {
		_ = cmd.Process.Kill()
	}
	werr := cmd.Wait()
	switch {
	case perr != nil:
		return msgs, perr
	case werr != nil:
		return msgs, fmt.Errorf("kcat: %w: %s", werr, strings.TrimSpace(stderr.String()))
	}
	return msgs, nil
}

// parseKcat decodes kcat -J output for one partition read from offset from.
// Anything that is not a well-formed record of that partition, at an offset
// above the previous one, is an error wrapping errMalformed.
func parseKcat(r *bufio.Reader, topic string, partition int, from int64) ([]Message, error) {
	var msgs []Message
	prev := from - 1
	for {
		// One envelope per line: kcat escapes newlines inside strings. The
		// line is only valid until the next read: message copies out.
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			var rest []byte
			rest, err = r.ReadBytes('\n')
			line = append(bytes.Clone(line), rest...)
		}
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return msgs, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return msgs, err
		}
		env, err := parseEnvelope(bytes.TrimSuffix(line, []byte("\n")))
		var m Message
		if err == nil {
			m, err = env.message(topic, partition, prev)
		}
		if err != nil {
			return msgs, fmt.Errorf("%w: after offset %d: %v", errMalformed, prev, err)
		}
		msgs = append(msgs, m)
		prev = m.Offset
	}
}

// kcatEnvelope holds the raw JSON values of one kcat -J envelope; a field
// kcat did not print is nil.
type kcatEnvelope struct {
	topic, partition, offset, ts, key, payload []byte
	headers                                    [][]byte // key, value, key, value...
}

// parseEnvelope splits one line of kcat -J output into its fields. It takes
// what kcat prints — a flat object without spaces whose values are strings,
// integers, null, and for "headers" an array of strings and nulls — and
// nothing else. (encoding/json would do, but replaces bytes that are not
// UTF-8, which kcat copies as they are, and is several times slower.)
func parseEnvelope(line []byte) (kcatEnvelope, error) {
	var env kcatEnvelope
	sc := jsonScanner{b: line}
	if !sc.consume('{') {
		return env, errors.New("not a JSON object")
	}
	for !sc.consume('}') {
		k, err := sc.str()
		if err != nil || !sc.consume(':') {
			return env, fmt.Errorf("bad key at byte %d", sc.i)
		}
		var v []byte
		if string(k) == `"headers"` {
			env.headers, err = sc.array()
		} else {
			v, err = sc.value()
		}
		if err != nil {
			return env, fmt.Errorf("%s: %w", k, err)
		}
		switch string(k) {
		case `"topic"`:
			env.topic = v
		case `"partition"`:
			env.partition = v
		case `"offset"`:
			env.offset = v
		case `"ts"`:
			env.ts = v
		case `"key"`:
			env.key = v
		case `"payload"`:
			env.payload = v
		}
		if !sc.consume(',') && (sc.i >= len(sc.b) || sc.b[sc.i] != '}') {
			return env, fmt.Errorf("expected , or } at byte %d", sc.i)
		}
	}
	if sc.i != len(sc.b) {
		return env, fmt.Errorf("trailing bytes after the object at byte %d", sc.i)
	}
	return env, nil
}

// message checks env against the partition being read and the previous
// offset, and returns it as a Message with exact bytes.
func (env kcatEnvelope) message(topic string, partition int, prev int64) (Message, error) {
	t, err := jsonBytes(env.topic)
	if err != nil || string(t) != topic {
		return Message{}, fmt.Errorf("record of topic %q, want %q", env.topic, topic)
	}
	if p, err := strconv.Atoi(string(env.partition)); err != nil || p != partition {
		return Message{}, fmt.Errorf("record of partition %q, want %d", env.partition, partition)
	}
	off, err := strconv.ParseInt(string(env.offset), 10, 64)
	if err != nil || off <= prev {
		return Message{}, fmt.Errorf("offset %q does not follow %d", env.offset, prev)
	}
	if env.payload == nil || len(env.headers)%2 != 0 {
		return Message{}, fmt.Errorf("offset %d: no payload field, or an odd header list", off)
	}
	m := Message{Partition: partition, Offset: off}
	if ts, err := strconv.ParseInt(string(env.ts), 10, 64); err == nil {
		m.Time = time.UnixMilli(ts)
	}
	if m.Key, err = jsonBytes(env.key); err != nil {
		return Message{}, fmt.Errorf("offset %d: key: %w", off, err)
	}
	if m.Value, err = jsonBytes(env.payload); err != nil {
		return Message{}, fmt.Errorf("offset %d: payload: %w", off, err)
	}
	for i := 0; i < len(env.headers); i += 2 {
		k, err := jsonBytes(env.headers[i])
		if err != nil || k == nil {
			return Message{}, fmt.Errorf("offset %d: header key %s: %v", off, env.headers[i], err)
		}
		v, err := jsonBytes(env.headers[i+1])
		if err != nil {
			return Message{}, fmt.Errorf("offset %d: header %s: %w", off, k, err)
		}
		m.Headers = append(m.Headers, Header{Key: string(k), Value: v})
	}
	return m, nil
}

// jsonScanner walks the restricted JSON of parseEnvelope.
type jsonScanner struct {
	b []byte
	i int
}

func (sc *jsonScanner) consume(c byte) bool {
	if sc.i < len(sc.b) && sc.b[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// str returns a raw JSON string, quotes included, escapes not decoded.
func (sc *jsonScanner) str() ([]byte, error) {
	start := sc.i
	if !sc.consume('"') {
		return nil, errors.New("expected a string")
	}
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case '\\':
			sc.i += 2
		case '"':
			sc.i++
			return sc.b[start:sc.i], nil
		default:
			sc.i++
		}
	}
	return nil, errors.New("unterminated string")
}

// value returns a raw string, integer or null.
func (sc *jsonScanner) value() ([]byte, error) {
	rest := sc.b[sc.i:]
	switch {
	case len(rest) > 0 && rest[0] == '"':
		return sc.str()
	case bytes.HasPrefix(rest, []byte("null")):
		sc.i += 4
		return rest[:4], nil
	}
	n := 0
	if len(rest) > 0 && rest[0] == '-' {
		n++
	}
	digits := n
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == digits {
		return nil, fmt.Errorf("unexpected value at byte %d", sc.i)
	}
	sc.i += n
	return rest[:n], nil
}

// array returns the raw strings and nulls of a JSON array.
func (sc *jsonScanner) array() ([][]byte, error) {
	if !sc.consume('[') {
		return nil, errors.New("expected an array")
	}
	var out [][]byte
	for !sc.consume(']') {
		v, err := sc.value()
		if err != nil || (v[0] != '"' && string(v) != "null") {
			return nil, fmt.Errorf("array of strings expected at byte %d", sc.i)
		}
		out = append(out, v)
		if !sc.consume(',') && (sc.i >= len(sc.b) || sc.b[sc.i] != ']') {
			return nil, fmt.Errorf("expected , or ] at byte %d", sc.i)
		}
	}
	return out, nil
}

// jsonBytes returns the bytes of a raw JSON string exactly, or nil for
// null (a missing field too). Unlike encoding/json it keeps bytes that are
// not UTF-8, as kcat writes them.
func jsonBytes(raw []byte) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, fmt.Errorf("not a string: %.40s", raw)
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return bytes.Clone(s), nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+1 == len(s) {
			return nil, errors.New("dangling backslash")
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n, err := jsonRune(s[i+1:])
			if err != nil {
				return nil, err
			}
			out = utf8.AppendRune(out, r)
			i += n
		default:
			return nil, fmt.Errorf("bad escape \\%c", s[i])
		}
	}
	return out, nil
}

// jsonRune decodes the hex digits after "\u" (and a following "\uXXXX" low
// surrogate), returning the rune and how many bytes it consumed.
func jsonRune(s []byte) (rune, int, error) {
	hex := func(b []byte) (rune, bool) {
		if len(b) < 4 {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[:4]), 16, 16)
		return rune(v), err == nil
	}
	r, ok := hex(s)
	if !ok {
		return 0, 0, fmt.Errorf("bad \\u escape %.6q", s)
	}
	if utf16.IsSurrogate(r) && len(s) >= 10 && s[4] == '\\' && s[5] == 'u' {
		if r2, ok := hex(s[6:]); ok {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 10, nil
			}
		}
	}
	return r, 4, nil
}
