// Package pipeline builds Kafka records from lines: decode, key by host or
// source, serialize (raw or the JSON envelope), add the source headers and
// partition (murmur2 as Java does, round robin, fixed), then hands them to
// the producer, which owns their acks from then on.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/decode"
	"github.com/logship/logship/internal/producer"
	"github.com/logship/logship/internal/tailer"
	"github.com/prometheus/client_golang/prometheus"
)

// Producer is where a Pipeline hands its records: the agent's shared
// *producer.Producer. Append takes ownership of the records' acks when it
// returns nil and none of them otherwise (the Pipeline then abandons them);
// Partitions errors are retried by the caller.
type Producer interface {
	Partitions(ctx context.Context, topic string) (int, error)
	Append(topic string, partition int, recs []producer.Record) error
}

// Pipeline is the record-building half of one configured pipeline: it
// implements tailer.Sink, turning each line into a producer.Record (decode,
// key, serialize, partition) and handing it to the shared Producer. It holds
// no goroutines and no buffers of its own.
type Pipeline struct {
	name        string
	topic       string
	host        string
	hostKey     []byte // the record key for key: host, built once
	key         string
	partitioner Partitioner
	serialize   Serializer
	raw         bool // serializer raw: the value is the line's bytes, not copied
	fields      []Field
	headers     headerSet
	out         Producer
	log         *slog.Logger
	backoffMax  time.Duration
	altered     prometheus.Counter
	// topicErrLogged is the unix nanos of the last "topic metadata
	// unavailable" log line.
	topicErrLogged atomic.Int64
	// waitingSince is the unix nanos since which Emit has been waiting for
	// the topic's metadata; 0 once it was last available.
	waitingSince atomic.Int64
}

// New builds the pipeline described by pc on top of out. host is the
// value used for key: host and the envelope's host field; agentID is the
// agent's stable id (agentid.Load), part of HeaderSource.
func New(pc config.Pipeline, host, agentID string, out Producer, logger *slog.Logger, reg prometheus.Registerer) (*Pipeline, error) {
	part, err := NewPartitioner(pc.Partitioner, pc.Partition)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", pc.Name, err)
	}
	ser, err := NewSerializer(pc.Serializer)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", pc.Name, err)
	}
	switch pc.Key {
	case "", "host", "source", "none":
	default:
		return nil, fmt.Errorf("pipeline %s: unknown key %q", pc.Name, pc.Key)
	}
	keys := make([]string, 0, len(pc.Fields))
	for k := range pc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fields := make([]Field, 0, len(keys))
	for _, k := range keys {
		fields = append(fields, Field{Key: k, Value: pc.Fields[k]})
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	altered := prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "logship_lines_altered_total",
		Help:        "Lines whose invalid UTF-8 was replaced by U+FFFD in the JSON envelope.",
		ConstLabels: prometheus.Labels{"pipeline": pc.Name},
	})
	if reg != nil {
		if err := reg.Register(altered); err != nil {
			// A pipeline re-created by a reload keeps counting in the
			// series of its predecessor.
			var are prometheus.AlreadyRegisteredError
			existing, ok := prometheus.Counter(nil), false
			if errors.As(err, &are) {
				existing, ok = are.ExistingCollector.(prometheus.Counter)
			}
			if !ok {
				return nil, fmt.Errorf("pipeline %s: register metrics: %w", pc.Name, err)
			}
			altered = existing
		}
	}
	return &Pipeline{
		name:        pc.Name,
		topic:       pc.Topic,
		host:        host,
		hostKey:     []byte(host),
		key:         pc.Key,
		partitioner: part,
		serialize:   ser,
		raw:         pc.Serializer == "" || pc.Serializer == "raw",
		fields:      fields,
		headers:     newHeaderSet(pc.Headers, pc.SourceHeaders, agentID),
		out:         out,
		log:         logger.With("component", "pipeline", "pipeline", pc.Name, "topic", pc.Topic),
		backoffMax:  10 * time.Second,
		altered:     altered,
	}, nil
}

// Emit implements tailer.Sink. It blocks while the topic's metadata is
// unavailable (broker unreachable, topic missing), retrying with backoff:
// that is backpressure, not loss. Every line's Ack passes to the producer,
// which resolves it; on an error (ctx done while waiting, a closing
// producer) Emit abandons the acks the producer did not take, so their
// bytes go back to the budget and the lines are read again.
func (p *Pipeline) Emit(ctx context.Context, src *tailer.Source, lines []tailer.Line) error {
	if len(lines) == 0 {
		return nil
	}
	partitions, err := p.partitions(ctx)
	if err != nil {
		for i := range lines {
			lines[i].Ack.Abandon()
		}
		return err
	}
	now := time.Now()
	key := p.recordKey(src)
	recs := make([]producer.Record, len(lines))
	if p.raw {
		// The raw value is the line itself: Line.Data is the sink's until
		// the Ack is resolved, so no copy is needed.
		for i := range lines {
			recs[i] = producer.Record{Key: key, Value: lines[i].Data, Time: now, Ack: lines[i].Ack}
		}
	} else {
		// One arena for all serialized values of this call: a single
		// allocation, sub-sliced per record.
		size := 0
		for i := range lines {
			size += len(lines[i].Data)
		}
		arena := make([]byte, 0, size+len(lines)*(160+len(p.host)+len(src.Path)))
		ev := Event{Time: now, Host: p.host, Source: src.Path, Fields: p.fields}
		for i := range lines {
			ln := &lines[i]
			ev.Message = ln.Data
			ev.Offset = ln.End
			var value []byte
			arena, value = p.value(arena, &ev)
			recs[i] = producer.Record{Key: key, Value: value, Time: now, Ack: ln.Ack}
		}
	}
	p.headers.fill(recs, src, func(i int) int64 { return lines[i].End })
	return p.append(recs, partitions)
}

// value serializes ev at the end of arena and returns the grown arena and
// the record value, capped so later appends to arena never overwrite it.
// Lines whose invalid UTF-8 the serializer replaced are counted.
func (p *Pipeline) value(arena []byte, ev *Event) ([]byte, []byte) {
	start := len(arena)
	arena, altered := p.serialize(arena, ev)
	if altered {
		p.altered.Inc()
	}
	return arena, arena[start:len(arena):len(arena)]
}

// recordKey is the key of src's records.
func (p *Pipeline) recordKey(src *tailer.Source) []byte {
	switch p.key {
	case "", "host":
		return p.hostKey
	case "source":
		return []byte(src.Path)
	}
	return nil
}

// append partitions recs and hands them to the producer, which then owns
// their acks; the acks of records it refuses are abandoned. Records are grouped by partition with a stable counting sort
// (file order kept within each partition), so the producer takes one
// Append — one lock — per partition per call, not one per line as
// round_robin would otherwise cause.
func (p *Pipeline) append(recs []producer.Record, partitions int) error {
	parts := make([]int, len(recs))
	top, mixed := 0, false
	for i := range recs {
		parts[i] = p.partitioner.Partition(recs[i].Key, partitions)
		top = max(top, parts[i])
		mixed = mixed || parts[i] != parts[0]
	}
	if !mixed {
		if err := p.out.Append(p.topic, parts[0], recs); err != nil {
			abandon(recs)
			return fmt.Errorf("pipeline %s: %w", p.name, err)
		}
		return nil
	}
	starts := make([]int, top+2)
	for _, pt := range parts {
		starts[pt+1]++
	}
	for i := 1; i < len(starts); i++ {
		starts[i] += starts[i-1]
	}
	next := make([]int, top+1)
	copy(next, starts)
	sorted := make([]producer.Record, len(recs))
	for i := range recs {
		sorted[next[parts[i]]] = recs[i]
		next[parts[i]]++
	}
	for pt := 0; pt <= top; pt++ {
		if starts[pt] == starts[pt+1] {
			continue
		}
		if err := p.out.Append(p.topic, pt, sorted[starts[pt]:starts[pt+1]]); err != nil {
			// The producer took the partitions before pt and none after.
			for rest := pt; rest <= top; rest++ {
				abandon(sorted[starts[rest]:starts[rest+1]])
			}
			return fmt.Errorf("pipeline %s: %w", p.name, err)
		}
	}
	return nil
}

// abandon gives up the acks of records the producer did not take.
func abandon(recs []producer.Record) {
	for i := range recs {
		recs[i].Ack.Abandon()
	}
}

// partitions waits until the topic's partition count is known.
func (p *Pipeline) partitions(ctx context.Context) (int, error) {
	backoff := 100 * time.Millisecond
	for {
		n, err := p.out.Partitions(ctx, p.topic)
		if err == nil {
			p.waitingSince.Store(0)
			return n, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		p.waitingSince.CompareAndSwap(0, time.Now().UnixNano())
		// One error per interval for the pipeline (every reader of its
		// files waits here), naming the topic in an attribute and the error
		// text; the lines wait in their files meanwhile.
		now, last := time.Now().UnixNano(), p.topicErrLogged.Load()
		if now-last > int64(logInterval) && p.topicErrLogged.CompareAndSwap(last, now) {
			p.log.Error("topic metadata unavailable, waiting", "error", err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		backoff = min(backoff*2, p.backoffMax)
	}
}

// Topic is the topic the pipeline writes to.
func (p *Pipeline) Topic() string { return p.topic }

// TopicWait is since when the pipeline's readers have been waiting for its
// topic's metadata (topic deleted or missing, cluster unreachable); zero
// when it was available at the last attempt. Safe from any goroutine.
func (p *Pipeline) TopicWait() time.Time {
	if n := p.waitingSince.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// logInterval is how often the pipeline logs one condition.
const logInterval = 30 * time.Second

// EmitEvents implements decode.Sink: like Emit, for events decoded from
// container formats or joined by multiline. The envelope's ts is the
// event's time when it has one (else the read time), its stream is set, and
// its fields are the pipeline's followed by the event's (a path field never
// replaces a configured one). Every event's Ack passes to the producer, or
// is abandoned on an error as in Emit.
func (p *Pipeline) EmitEvents(ctx context.Context, src *tailer.Source, evs []decode.Event) error {
	if len(evs) == 0 {
		return nil
	}
	partitions, err := p.partitions(ctx)
	if err != nil {
		for i := range evs {
			evs[i].Ack.Abandon()
		}
		return err
	}
	now := time.Now()
	key := p.recordKey(src)
	fields := p.fields
	if extra := evs[0].Fields; len(extra) > 0 {
		fields = make([]Field, len(p.fields), len(p.fields)+len(extra))
		copy(fields, p.fields)
		for _, f := range extra {
			if !slices.ContainsFunc(p.fields, func(c Field) bool { return c.Key == f.Key }) {
				fields = append(fields, Field(f))
			}
		}
	}
	size := 0
	for i := range evs {
		size += len(evs[i].Message)
	}
	arena := make([]byte, 0, size+len(evs)*(200+len(p.host)+len(src.Path)+64*len(fields)))
	recs := make([]producer.Record, len(evs))
	env := Event{Host: p.host, Source: src.Path, Fields: fields}
	for i := range evs {
		ev := &evs[i]
		env.Message, env.Offset, env.Stream, env.Time = ev.Message, ev.End, ev.Stream, ev.Time
		if env.Time.IsZero() {
			env.Time = now
		}
		var value []byte
		arena, value = p.value(arena, &env)
		recs[i] = producer.Record{Key: key, Value: value, Time: now, Ack: ev.Ack}
	}
	p.headers.fill(recs, src, func(i int) int64 { return evs[i].End })
	return p.append(recs, partitions)
}

var (
	_ tailer.Sink = (*Pipeline)(nil)
	_ decode.Sink = (*Pipeline)(nil)
)
