package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/segmentio/kafka-go"
)

// OversizePolicy says what the producer does with a single record the broker
// rejects as too large (MESSAGE_TOO_LARGE: its record batch exceeds the
// topic's max.message.bytes). Whatever the policy, the record is never
// retried forever, never dropped silently, and always counted.
type OversizePolicy string

const (
	// OversizeSplit sends the value in consecutive parts that fit, to the
	// same partition with the same key, each with the record's headers plus
	// "logship.part" = "i/n" (1-based). Concatenating the parts in offset
	// order restores the value byte for byte. If the broker rejects a part
	// (the learned limit was still too high), the limit is lowered and the
	// whole value is sent again in smaller parts: a consumer reassembles from
	// the last "1/n" run; the abandoned parts count as retried records.
	OversizeSplit OversizePolicy = "split"
	// OversizeTruncate sends the first bytes of the value that fit, with the
	// header "logship.truncated" = the original length in bytes.
	OversizeTruncate OversizePolicy = "truncate"
	// OversizeDeadLetter appends the record to a local dead-letter file (see
	// deadLetter) instead of Kafka. When that file is full or cannot be
	// written the record is truncated instead, and both are counted: a full
	// disk file must not stall the partition, nor lose the line.
	OversizeDeadLetter OversizePolicy = "dead_letter"
)

// Header names added by the oversize policies.
const (
	HeaderPart      = "logship.part"
	HeaderTruncated = "logship.truncated"
)

const (
	// batchOverhead is the fixed size of a v2 record batch header.
	batchOverhead = 61
	// minLimit is the smallest limit learnLimit guesses; a record that does
	// not fit in it even after splitting or truncating is dropped (counted).
	minLimit = 256
)

// topicLimit is the largest record batch a topic accepts, as far as the
// producer knows. learned is set once a MESSAGE_TOO_LARGE taught it; exact
// when the value is the topic's max.message.bytes read from the cluster.
type topicLimit struct {
	bytes   int
	learned bool
	exact   bool
}

// limit returns what is known of topic's batch size limit; MaxRecordBytes
// until a MESSAGE_TOO_LARGE taught more.
func (p *Producer) limit(topic string) topicLimit {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if l, ok := p.limits[topic]; ok {
		return l
	}
	return topicLimit{bytes: p.opts.MaxRecordBytes}
}

// learnLimit is called after the broker rejected a batch of about failed
// bytes as too large. It asks the cluster for the topic's max.message.bytes
// (once; the answer is kept) and otherwise halves the guess, so the next
// chunks and parts are built under the broker's limit.
func (p *Producer) learnLimit(topic string, failed int) {
	cur := p.limit(topic)
	if cur.exact && failed > cur.bytes {
		return // consistent with what is known
	}
	next := topicLimit{bytes: failed / 2, learned: true}
	if v, err := p.maxMessageBytes(topic); err == nil && v < failed {
		next = topicLimit{bytes: v, learned: true, exact: true}
	} else if err != nil {
		p.logOnce("describe/"+topic, slog.LevelWarn, "cannot read the topic's max.message.bytes, guessing",
			"topic", topic, "error", err)
	}
	next.bytes = max(min(next.bytes, cur.bytes), minLimit)
	p.metaMu.Lock()
	p.limits[topic] = next
	p.metaMu.Unlock()
	if next != cur {
		p.log.Info("topic size limit learned", "topic", topic, "limit_bytes", next.bytes, "exact", next.exact)
	}
}

// maxMessageBytes reads topic's max.message.bytes with DescribeConfigs.
func (p *Producer) maxMessageBytes(topic string) (int, error) {
	ctx, cancel := context.WithTimeout(p.sendCtx, p.opts.RequestTimeout)
	defer cancel()
	res, err := p.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: topic,
			ConfigNames:  []string{"max.message.bytes"},
		}},
	})
	if err != nil {
		return 0, fmt.Errorf("producer: describe configs of topic %s: %w", topic, err)
	}
	for _, r := range res.Resources {
		if r.Error != nil {
			return 0, fmt.Errorf("producer: describe configs of topic %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "max.message.bytes" {
				v, err := strconv.Atoi(e.ConfigValue)
				if err != nil || v <= 0 {
					return 0, fmt.Errorf("producer: topic %s: max.message.bytes %q", topic, e.ConfigValue)
				}
				return v, nil
			}
		}
	}
	return 0, fmt.Errorf("producer: topic %s: max.message.bytes not returned", topic)
}

// surelyTooLarge reports whether r cannot fit under the topic's exact limit
// even before compression shrinks it: then the policy applies without a
// request the broker would reject. Only without compression is the
// uncompressed size a lower bound of what the broker checks.
func (p *Producer) surelyTooLarge(topic string, r *Record) bool {
	lim := p.limit(topic)
	return lim.exact && p.opts.Compression == 0 && batchOverhead+len(r.Key)+len(r.Value) > lim.bytes
}

func batchSize(recs []Record) int {
	n := batchOverhead
	for i := range recs {
		n += recs[i].size()
	}
	return n
}

// valueBudget is the largest value that fits, with r's key and headers and
// one more header of extra bytes, in a one-record batch under limit. The
// margin covers varint widths and the framing a compression codec adds to
// incompressible data (lz4 frame headers and checksums, about 0.4% growth).
func valueBudget(limit int, r *Record, extra int) int {
	fixed := batchOverhead + recordOverhead + len(r.Key) + extra + 8
	for _, h := range r.Headers {
		fixed += len(h.Key) + len(h.Value) + 8
	}
	margin := 64 + limit/64
	return limit - fixed - margin
}

// oversize applies the configured policy to r, which the broker rejected
// (cause) as too large on its own. It resolves r's Ack, and returns false
// only on a hard stop.
func (p *Producer) oversize(tp topicPartition, r *Record, cause error) bool {
	switch p.opts.Oversize {
	case OversizeTruncate:
		return p.truncate(tp, r, cause)
	case OversizeDeadLetter:
		err := p.deadLetter.write(tp, r, "too_large", cause)
		if err == nil {
			p.m.deadLettered.Inc()
			r.Ack.Done()
			return true
		}
		reason := "write"
		if errors.Is(err, errDeadLetterFull) {
			reason = "full"
		}
		p.m.deadLetterErrors.WithLabelValues(reason).Inc()
		p.logOnce("dead-letter/"+reason, slog.LevelError, "dead-letter file unusable, truncating the record instead",
			"topic", tp.topic, "partition", tp.partition, "bytes", len(r.Value), "error", err)
		return p.truncate(tp, r, cause)
	default:
		return p.split(tp, r, cause)
	}
}

// truncate sends the head of r's value that fits, marked with
// HeaderTruncated, lowering the learned limit while the broker still
// rejects it.
func (p *Producer) truncate(tp topicPartition, r *Record, cause error) bool {
	orig := strconv.Itoa(len(r.Value))
	for {
		lim := p.limit(tp.topic)
		budget := valueBudget(lim.bytes, r, len(HeaderTruncated)+len(orig))
		if budget <= 0 {
			p.drop(tp, []Record{*r}, "too_large", fmt.Errorf("key and headers alone exceed the limit of %d bytes: %w", lim.bytes, cause))
			return true
		}
		t := Record{Key: r.Key, Value: r.Value[:min(budget, len(r.Value))], Time: r.Time,
			Headers: withHeader(r.Headers, HeaderTruncated, orig)}
		base, _, err := p.send(tp, []Record{t}, nil)
		switch {
		case err == nil:
			p.delivered(tp, &t, base)
			p.m.truncated.Inc()
			p.logOnce("truncate/"+tp.topic, slog.LevelWarn, "oversize record truncated",
				"topic", tp.topic, "partition", tp.partition, "bytes", len(r.Value), "kept_bytes", len(t.Value))
			p.resolve(r)
			return true
		case errors.Is(err, errStopped):
			return false
		case isTooLarge(err):
			if !p.lowerLimit(tp.topic, batchSize([]Record{t})) {
				p.drop(tp, []Record{*r}, "too_large", err)
				return true
			}
		case isRejected(err):
			p.drop(tp, []Record{*r}, "invalid", err)
			return true
		default:
			// Retried (send retries every other error itself).
		}
	}
}

// split sends r's value in parts that fit, each marked with HeaderPart
// "i/n", and resolves r's Ack once every part is acknowledged.
func (p *Producer) split(tp topicPartition, r *Record, cause error) bool {
outer:
	for {
		lim := p.limit(tp.topic)
		budget := valueBudget(lim.bytes, r, len(HeaderPart)+2*len(strconv.Itoa(len(r.Value)))+1)
		if budget <= 0 {
			p.drop(tp, []Record{*r}, "too_large", fmt.Errorf("key and headers alone exceed the limit of %d bytes: %w", lim.bytes, cause))
			return true
		}
		n := max((len(r.Value)+budget-1)/budget, 1)
		for i := range n {
			part := Record{Key: r.Key, Value: r.Value[i*budget : min((i+1)*budget, len(r.Value))], Time: r.Time,
				Headers: withHeader(r.Headers, HeaderPart, strconv.Itoa(i+1)+"/"+strconv.Itoa(n))}
			base, _, err := p.send(tp, []Record{part}, nil)
			for err != nil && !errors.Is(err, errStopped) && !isTooLarge(err) && !isRejected(err) {
				// send retries every other error itself; were one to come
				// back, the part is sent again, never dropped.
				base, _, err = p.send(tp, []Record{part}, nil)
			}
			switch {
			case err == nil:
				p.delivered(tp, &part, base)
			case errors.Is(err, errStopped):
				// The record is read and split again after restart: the
				// parts already stored are sent again.
				p.m.retried.Add(float64(i))
				return false
			case isTooLarge(err):
				p.m.retried.Add(float64(i)) // parts already stored are sent again
				if !p.lowerLimit(tp.topic, batchSize([]Record{part})) {
					p.drop(tp, []Record{*r}, "too_large", err)
					return true
				}
				continue outer
			default: // rejected
				p.drop(tp, []Record{*r}, "invalid", err)
				return true
			}
		}
		p.m.split.Inc()
		p.m.parts.Add(float64(n))
		p.logOnce("split/"+tp.topic, slog.LevelWarn, "oversize record split",
			"topic", tp.topic, "partition", tp.partition, "bytes", len(r.Value), "parts", n)
		p.resolve(r)
		return true
	}
}

// lowerLimit is learnLimit for a one-record batch of failed bytes that the
// broker rejected although it was built under the known limit. It reports
// false when the limit cannot go lower.
func (p *Producer) lowerLimit(topic string, failed int) bool {
	before := p.limit(topic)
	if before.bytes <= minLimit {
		return false
	}
	p.metaMu.Lock()
	p.limits[topic] = topicLimit{bytes: max(min(before.bytes, failed)/2, minLimit), learned: true}
	p.metaMu.Unlock()
	return true
}

// withHeader returns a copy of hs with one more header; hs is shared with
// other records and never modified.
func withHeader(hs []kafka.Header, key, value string) []kafka.Header {
	out := make([]kafka.Header, len(hs), len(hs)+1)
	copy(out, hs)
	return append(out, kafka.Header{Key: key, Value: []byte(value)})
}
