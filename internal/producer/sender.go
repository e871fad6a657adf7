package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/segmentio/kafka-go"
)

// runSender is the background sender of one topic-partition. It returns
// when the queue is closing and drained, or on a hard stop.
func (p *Producer) runSender(q *partitionQueue) {
	defer p.wg.Done()
	for {
		b := q.next(p.opts.Linger, p.sendCtx.Done())
		if b == nil {
			return
		}
		if !p.deliver(q.tp, b.records, &q.scratch) {
			return // hard stop: the batch stays unacknowledged
		}
		q.sent()
		q.recycle(b)
	}
}

// errStopped is returned by send on a hard stop.
var errStopped = errors.New("producer: stopped")

// deliver sends records (one partition, in order) until each is
// acknowledged or handled by the oversize or invalid-record policy. Records
// are sent in chunks under the topic's learned size limit; a chunk the
// broker rejects as too large or invalid is split in halves, and a single
// record still rejected goes to the oversize policy (too large) or is
// dropped, counted and logged (invalid). Every record's Ack is resolved
// exactly once. deliver returns false only on a hard stop, leaving the
// unresolved records unacknowledged. s is the sender's encode scratch,
// reused across requests (nil: fresh slices per request).
func (p *Producer) deliver(tp topicPartition, recs []Record, s *encodeScratch) bool {
	for len(recs) > 0 {
		lim := p.limit(tp.topic)
		if !lim.learned {
			// Batches are sealed at BatchBytes; nothing says the broker wants less.
			return p.deliverChunk(tp, recs, s)
		}
		n, size := 0, batchOverhead
		for n < len(recs) && (n == 0 || size+recs[n].size() <= lim.bytes) {
			size += recs[n].size()
			n++
		}
		if !p.deliverChunk(tp, recs[:n], s) {
			return false
		}
		recs = recs[n:]
	}
	return true
}

func (p *Producer) deliverChunk(tp topicPartition, recs []Record, s *encodeScratch) bool {
	if len(recs) == 1 && p.surelyTooLarge(tp.topic, &recs[0]) {
		return p.oversize(tp, &recs[0], fmt.Errorf("record of %d bytes exceeds the topic's max.message.bytes", len(recs[0].Value)))
	}
	for {
		base, n, err := p.send(tp, recs, s)
		switch {
		case err == nil:
			p.acked(tp, recs[:n], base)
			if n < len(recs) {
				p.log.Error("produce request carried fewer records than built, sending the rest again",
					"topic", tp.topic, "partition", tp.partition, "records", len(recs), "carried", n)
				return p.deliver(tp, recs[n:], s)
			}
			return true
		case errors.Is(err, errStopped):
			return false
		case errors.Is(err, errPartitionGone):
			return p.repartition(tp, recs)
		case isTooLarge(err):
			p.learnLimit(tp.topic, batchSize(recs))
			if len(recs) > 1 {
				half := len(recs) / 2
				return p.deliver(tp, recs[:half], s) && p.deliver(tp, recs[half:], s)
			}
			return p.oversize(tp, &recs[0], err)
		case isRejected(err):
			if len(recs) > 1 {
				half := len(recs) / 2
				return p.deliver(tp, recs[:half], s) && p.deliver(tp, recs[half:], s)
			}
			p.drop(tp, recs, "invalid", err)
			return true
		default:
			// send retries every other error itself; were one to come
			// back, it is retried too, never dropped.
		}
	}
}

// send sends one produce request for recs and retries it until the broker
// acknowledges it, returning the base offset. It gives up only when the
// broker rejects the records themselves (too large, invalid: the error is
// returned), when the partition no longer exists in the topic
// (errPartitionGone), or on a hard stop (errStopped). Leader and routing errors force
// a metadata refresh before the retry, and their retries are at most
// minRefreshInterval apart however long the outage, so a new leader is used
// within about a second of being elected. Below min ISR
// (NOT_ENOUGH_REPLICAS) the request is simply retried: nothing is
// acknowledged, so no checkpoint moves.
//
// Every attempt that may have been stored and is followed by another copy
// of recs counts len(recs) in logship_records_retried_total: a resend
// here, or, when a hard stop abandons recs, the copy sent after restart
// (their Acks stay unresolved, so their lines are read again).
func (p *Producer) send(tp topicPartition, recs []Record, s *encodeScratch) (base int64, n int, err error) {
	backoff := p.opts.RetryBackoff
	for resend := false; ; {
		if resend {
			p.m.retried.Add(float64(len(recs)))
		}
		base, n, err := p.produce(tp, recs, s)
		if err == nil {
			return base, n, nil
		}
		resend = mayBeStored(err)
		if p.sendCtx.Err() != nil {
			p.abandon(recs, resend)
			return 0, 0, errStopped
		}
		code := errorCode(err)
		p.m.sendErrors.WithLabelValues(code).Inc()
		if isTooLarge(err) || isRejected(err) {
			return 0, 0, err
		}
		if isUnknownPartition(err) && p.partitionGone(tp) {
			return 0, 0, errPartitionGone
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		backoff = min(backoff*2, p.opts.RetryBackoffMax)
		refreshDue := false
		if isLeaderError(err) {
			wait := p.refreshMetadata()
			sleep = max(min(sleep, minRefreshInterval), wait)
			refreshDue = wait > 0
		}
		switch {
		case p.logAuthFailure(err):
			// TLS and SASL failures are logged by logAuthFailure, naming
			// the broker and mechanism; kafka-go may report them as "not
			// found" when it has no cluster layout, so they come first.
		case errors.Is(err, kafka.UnknownTopicOrPartition) || isLayoutError(err):
			p.logOnce(code+"/"+tp.topic, slog.LevelError, "topic or partition unknown to the cluster, retrying",
				"topic", tp.topic, "partition", tp.partition, "records", len(recs), "error", err)
		default:
			p.logOnce(code+"/"+tp.topic, slog.LevelWarn, "produce failed, retrying",
				"topic", tp.topic, "partition", tp.partition, "records", len(recs), "error", err)
		}
		select {
		case <-time.After(sleep):
		case <-p.sendCtx.Done():
			p.abandon(recs, resend)
			return 0, 0, errStopped
		}
		if refreshDue {
			p.refreshMetadata()
		}
	}
}

// abandon counts recs, given up by a hard stop, as retried when the last
// request for them may have been stored.
func (p *Producer) abandon(recs []Record, mayBeStored bool) {
	if mayBeStored {
		p.m.retried.Add(float64(len(recs)))
	}
}

// errEmptyRequest is returned by produce when the broker acknowledged a
// request whose encoder read none of its records.
var errEmptyRequest = errors.New("producer: produce request carried no records")

// produce sends one produce request and returns the base offset assigned by
// the broker and the number of records the request carried: the first n of
// recs, as many as kafka-go read from the request's RecordReader. Only those
// may be acknowledged; a shorter request than recs is an encoder fault, and
// the rest is sent again. Or it returns the transport or broker error.
//
// The request's records come from s, which gives up its reader after any
// error (see encodeScratch).
func (p *Producer) produce(tp topicPartition, recs []Record, s *encodeScratch) (base int64, n int, err error) {
	rr := kafkaRecords(recs, s)
	res, err := p.produceFn(p.sendCtx, &kafka.ProduceRequest{
		Topic:        tp.topic,
		Partition:    tp.partition,
		RequiredAcks: p.opts.Acks,
		Records:      rr,
		Compression:  p.opts.Compression,
	})
	switch {
	case err != nil:
	case res == nil:
		err = errors.New("producer: produce returned no response")
	case len(res.RecordErrors) > 0:
		err = firstRecordError(res.Error, res.RecordErrors)
	case res.Error != nil:
		err = res.Error
	case rr.next == 0 && len(recs) > 0:
		err = errEmptyRequest
	}
	if err != nil {
		s.abandon()
		return 0, 0, err
	}
	return res.BaseOffset, rr.next, nil
}

// acked resolves recs, acknowledged from offset base on.
func (p *Producer) acked(tp topicPartition, recs []Record, base int64) {
	for i := range recs {
		p.delivered(tp, &recs[i], base+int64(i))
		p.resolve(&recs[i])
	}
}

// delivered reports one record the broker stored at offset.
func (p *Producer) delivered(tp topicPartition, r *Record, offset int64) {
	if p.opts.Delivered != nil {
		p.opts.Delivered(r, RecordMetadata{Topic: tp.topic, Partition: tp.partition, Offset: offset})
	}
}

// resolve resolves the Ack of a record Kafka now holds (whole, in parts or
// truncated).
func (p *Producer) resolve(r *Record) {
	now := time.Now()
	p.lastAck.Store(now.UnixNano())
	p.m.ackLatency.Observe(now.Sub(r.Time).Seconds())
	p.m.acked.Inc()
	r.Ack.Done()
}

func (p *Producer) drop(tp topicPartition, recs []Record, reason string, err error) {
	p.m.dropped.WithLabelValues(reason).Add(float64(len(recs)))
	p.logOnce("drop/"+reason+"/"+tp.topic, slog.LevelError, "record dropped by policy", "topic", tp.topic, "partition", tp.partition,
		"reason", reason, "bytes", len(recs[0].Value), "error", err)
	for i := range recs {
		recs[i].Ack.Done()
	}
}

// logInterval is how often one condition (error class and topic) is logged.
const logInterval = 30 * time.Second

// logOnce logs at most one line per condition per logInterval.
func (p *Producer) logOnce(class string, level slog.Level, msg string, args ...any) {
	now := time.Now()
	if last, ok := p.errLogged.Load(class); ok && now.Sub(last.(time.Time)) < logInterval {
		return
	}
	p.errLogged.Store(class, now)
	p.log.Log(context.Background(), level, msg, args...)
}
