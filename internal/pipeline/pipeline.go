package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/tailer"
	"github.com/prometheus/client_golang/prometheus"
)

// Pipeline is the record-building half of one configured pipeline: it
// implements tailer.Sink, turning each line into a Record (decode, key,
// serialize, partition) and handing it to the shared Producer. It holds no
// goroutines and no buffers of its own.
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
	producer    *Producer
	log         *slog.Logger
	backoffMax  time.Duration
	altered     prometheus.Counter
}

// New builds the pipeline described by pc on top of producer. host is the
// value used for key: host and the envelope's host field.
func New(pc config.Pipeline, host string, producer *Producer, logger *slog.Logger, reg prometheus.Registerer) (*Pipeline, error) {
	if pc.Format != "" && pc.Format != "raw" {
		return nil, fmt.Errorf("pipeline %s: format %q is not supported by this build", pc.Name, pc.Format)
	}
	if pc.Multiline.StartPattern != "" {
		return nil, fmt.Errorf("pipeline %s: multiline is not supported by this build", pc.Name)
	}
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
			return nil, fmt.Errorf("pipeline %s: register metrics: %w", pc.Name, err)
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
		producer:    producer,
		log:         logger.With("component", "pipeline", "pipeline", pc.Name, "topic", pc.Topic),
		backoffMax:  10 * time.Second,
		altered:     altered,
	}, nil
}

// Emit implements tailer.Sink. It blocks while the topic's metadata is
// unavailable (broker unreachable, topic missing), retrying with backoff:
// that is backpressure, not loss. Every line's Ack passes to the producer,
// which resolves it.
func (p *Pipeline) Emit(ctx context.Context, src *tailer.Source, lines []tailer.Line) error {
	if len(lines) == 0 {
		return nil
	}
	partitions, err := p.partitions(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	var key []byte
	switch p.key {
	case "", "host":
		key = p.hostKey
	case "source":
		key = []byte(src.Path)
	}
	// Partition first, then lay the records out grouped by partition
	// (a counting sort that keeps file order within each partition), so
	// the producer takes one Append — one lock — per partition per call,
	// not one per run of equal partitions (one per line with round_robin).
	parts := make([]int, len(lines))
	top := 0
	for i := range lines {
		parts[i] = p.partitioner.Partition(key, partitions)
		top = max(top, parts[i])
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
	recs := make([]Record, len(lines))
	if p.raw {
		// The raw value is the line itself: Line.Data is the sink's until
		// the Ack is resolved, so no copy is needed.
		for i := range lines {
			j := next[parts[i]]
			next[parts[i]]++
			recs[j] = Record{Key: key, Value: lines[i].Data, Time: now, Ack: lines[i].Ack}
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
			start := len(arena)
			var altered bool
			arena, altered = p.serialize(arena, &ev)
			if altered {
				p.altered.Inc()
			}
			j := next[parts[i]]
			next[parts[i]]++
			recs[j] = Record{Key: key, Value: arena[start:len(arena):len(arena)], Time: now, Ack: ln.Ack}
		}
	}
	for pt := 0; pt <= top; pt++ {
		if starts[pt] == starts[pt+1] {
			continue
		}
		if err := p.producer.Append(p.topic, pt, recs[starts[pt]:starts[pt+1]]); err != nil {
			return fmt.Errorf("pipeline %s: %w", p.name, err)
		}
	}
	return nil
}

// partitions waits until the topic's partition count is known.
func (p *Pipeline) partitions(ctx context.Context) (int, error) {
	backoff := 100 * time.Millisecond
	var lastLog time.Time
	for {
		n, err := p.producer.Partitions(ctx, p.topic)
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if time.Since(lastLog) > 30*time.Second {
			p.log.Warn("topic metadata unavailable, waiting", "error", err)
			lastLog = time.Now()
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		backoff = min(backoff*2, p.backoffMax)
	}
}

var _ tailer.Sink = (*Pipeline)(nil)
