package pipeline

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// ErrClosed is returned by Append after Close has begun.
var ErrClosed = errors.New("pipeline: producer closed")

// ProducerOptions configures a Producer. Zero durations and sizes are
// replaced by the documented defaults of agent.yaml.
type ProducerOptions struct {
	Brokers  []string
	ClientID string
	// Acks is the acknowledgement level. Only kafka.RequireAll gives the
	// delivery guarantee; config validation demands an explicit opt-in for
	// anything else. kafka.RequireNone is refused: it returns no offsets.
	Acks            kafka.RequiredAcks
	Compression     kafka.Compression
	Linger          time.Duration
	BatchBytes      int
	RequestTimeout  time.Duration
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	MetadataRefresh time.Duration
	TLS             *tls.Config
	SASL            sasl.Mechanism
	Logger          *slog.Logger
	Registerer      prometheus.Registerer // may be nil
	// Delivered, if set, is called by the sender goroutine of a partition
	// with the RecordMetadata of every acknowledged record, just before its
	// Ack is resolved; for a record split or truncated by the oversize
	// policy, with each record actually stored (whose Ack is zero). It must
	// not block. Meant for tests and tooling.
	Delivered func(*Record, RecordMetadata)

	// MaxRecordBytes caps the topic size limits learned from
	// MESSAGE_TOO_LARGE (the topic's max.message.bytes, read with
	// DescribeConfigs, or a halved guess), under which batches are then built.
	MaxRecordBytes int
	// Oversize is the policy for a single record the broker rejects as too
	// large. Zero means OversizeSplit.
	Oversize OversizePolicy
	// DeadLetterDir holds dead-letter.jsonl for OversizeDeadLetter; required
	// with that policy.
	DeadLetterDir string
	// DeadLetterMaxBytes caps dead-letter.jsonl. Zero means 64 MiB.
	DeadLetterMaxBytes int64
}

// Producer is the accumulator and the senders: one open batch and one
// background sender per topic-partition, at most one produce request in
// flight per partition (so order within a partition is kept across
// retries). Retriable errors are retried forever with capped, jittered
// backoff; a record is never skipped because its batch failed.
type Producer struct {
	opts      ProducerOptions
	transport *kafka.Transport
	client    *kafka.Client
	auth      *brokerAuth
	log       *slog.Logger
	m         *producerMetrics

	sendCtx  context.Context // cancelled by a hard stop
	hardStop context.CancelFunc

	mu      sync.Mutex
	closing bool
	queues  map[topicPartition]*partitionQueue
	wg      sync.WaitGroup // one per partition sender goroutine

	metaMu      sync.Mutex
	partCounts  map[string]partitionCount
	limits      map[string]topicLimit // learned from MESSAGE_TOO_LARGE
	lastRefresh time.Time

	deadLetter *deadLetter // nil unless Oversize is OversizeDeadLetter

	// produceFn sends one produce request; it is p.client.Produce except in
	// tests of the error paths.
	produceFn func(context.Context, *kafka.ProduceRequest) (*kafka.ProduceResponse, error)

	lastAck   atomic.Int64 // unix nanos of the last acknowledgement
	errLogged sync.Map     // error class -> time.Time of last log line
}

type topicPartition struct {
	topic     string
	partition int
}

type partitionCount struct {
	n       int
	fetched time.Time
}

// NewProducer validates opts and builds the Kafka client. It opens no
// connection: the first Partitions or send call dials.
func NewProducer(opts ProducerOptions) (*Producer, error) {
	if len(opts.Brokers) == 0 {
		return nil, errors.New("pipeline: no brokers configured")
	}
	if opts.Acks == kafka.RequireNone {
		return nil, errors.New("pipeline: acks=none returns no RecordMetadata and is refused")
	}
	setDefault(&opts.ClientID, "logship")
	setDefault(&opts.Linger, 10*time.Millisecond)
	setDefault(&opts.BatchBytes, 1<<20)
	setDefault(&opts.RequestTimeout, 30*time.Second)
	setDefault(&opts.RetryBackoff, 100*time.Millisecond)
	setDefault(&opts.RetryBackoffMax, 10*time.Second)
	setDefault(&opts.MetadataRefresh, 5*time.Second)
	setDefault(&opts.MaxRecordBytes, min(opts.BatchBytes, 1<<20))
	setDefault(&opts.Oversize, OversizeSplit)
	setDefault(&opts.DeadLetterMaxBytes, 64<<20)
	var dl *deadLetter
	switch opts.Oversize {
	case OversizeSplit, OversizeTruncate:
	case OversizeDeadLetter:
		if opts.DeadLetterDir == "" {
			return nil, errors.New("pipeline: oversize policy dead_letter needs a dead-letter directory")
		}
		dl = &deadLetter{dir: opts.DeadLetterDir, max: opts.DeadLetterMaxBytes}
	default:
		return nil, fmt.Errorf("pipeline: unknown oversize policy %q", opts.Oversize)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newProducerMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	auth := newBrokerAuth(opts.TLS, opts.SASL)
	transport := &kafka.Transport{
		Dial:        auth.dial, // TCP and TLS, so TLS failures name the broker
		DialTimeout: 10 * time.Second,
		IdleTimeout: 60 * time.Second,
		MetadataTTL: opts.MetadataRefresh,
		ClientID:    opts.ClientID,
		SASL:        auth.mechanism(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{
		opts:       opts,
		transport:  transport,
		client:     &kafka.Client{Addr: kafka.TCP(opts.Brokers...), Timeout: opts.RequestTimeout, Transport: transport},
		log:        opts.Logger.With("component", "producer"),
		auth:       auth,
		m:          m,
		sendCtx:    ctx,
		hardStop:   cancel,
		queues:     make(map[topicPartition]*partitionQueue),
		partCounts: make(map[string]partitionCount),
		limits:     make(map[string]topicLimit),
		deadLetter: dl,
	}
	p.produceFn = p.client.Produce
	return p, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Partitions returns the number of partitions of topic from cached cluster
// metadata (refreshed every MetadataRefresh). It returns an error when the
// cluster cannot be reached or the topic does not exist; callers retry.
func (p *Producer) Partitions(ctx context.Context, topic string) (int, error) {
	p.metaMu.Lock()
	pc, ok := p.partCounts[topic]
	p.metaMu.Unlock()
	if ok && time.Since(pc.fetched) < p.opts.MetadataRefresh {
		return pc.n, nil
	}
	// Bounded: before the first successful metadata fetch kafka-go waits
	// for the cluster on every request.
	ctx, cancel := context.WithTimeout(ctx, p.opts.RequestTimeout)
	defer cancel()
	res, err := p.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		p.logAuthFailure(err)
		return 0, fmt.Errorf("pipeline: metadata for topic %s: %w", topic, err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return 0, fmt.Errorf("pipeline: metadata for topic %s: %w", topic, t.Error)
		}
		if len(t.Partitions) == 0 {
			return 0, fmt.Errorf("pipeline: topic %s has no partitions", topic)
		}
		p.metaMu.Lock()
		p.partCounts[topic] = partitionCount{n: len(t.Partitions), fetched: time.Now()}
		p.metaMu.Unlock()
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("pipeline: topic %s: %w", topic, kafka.UnknownTopicOrPartition)
}

// minRefreshInterval bounds forced metadata refreshes: each one replaces
// kafka-go's connection pool (new connections, a full Metadata request).
const minRefreshInterval = time.Second

// refreshMetadata forces fresh cluster metadata for the next request and
// returns 0, or, when a refresh happened less than minRefreshInterval ago,
// does nothing and returns how long until the next one is allowed.
//
// kafka-go's Transport serves routing from a cache that only its MetadataTTL
// timer refreshes (a NOT_LEADER answer does not, segmentio/kafka-go#1221).
// CloseIdleConnections drops the Transport's connection pool and with it
// that cache; the next request builds a new pool, which blocks until its
// first Metadata response, so the retry is routed on fresh metadata.
// Requests in flight finish on the old pool's connections.
func (p *Producer) refreshMetadata() time.Duration {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if since := time.Since(p.lastRefresh); since < minRefreshInterval {
		return minRefreshInterval - since
	}
	p.lastRefresh = time.Now()
	clear(p.partCounts)
	p.transport.CloseIdleConnections()
	p.m.metadataRefreshes.Inc()
	return 0
}

// Append adds records bound for one topic-partition to that partition's
// open batch, sealing batches at BatchBytes. It is called from reader
// goroutines and never blocks on the network (memory is bounded upstream
// by the checkpoint budget). After Close has begun it returns ErrClosed and
// takes none of the records.
func (p *Producer) Append(topic string, partition int, recs []Record) error {
	tp := topicPartition{topic, partition}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	q := p.queues[tp]
	if q == nil {
		q = &partitionQueue{tp: tp, wake: make(chan struct{}, 1)}
		p.queues[tp] = q
		p.wg.Add(1)
		// Exits when the producer is closing and the queue is empty, or on
		// a hard stop.
		go p.runSender(q)
	}
	p.mu.Unlock()
	q.append(recs, p.opts.BatchBytes)
	return nil
}

// LastAck is the time of the last broker acknowledgement (zero if none).
func (p *Producer) LastAck() time.Time {
	n := p.lastAck.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Close stops accepting records, sends every open batch without waiting for
// linger, and waits until every record is acknowledged or ctx is done. On
// ctx expiry it abandons in-flight requests: those records stay
// unacknowledged, so their files' checkpoints stay before them and they are
// read again after restart. It returns the number of records left
// unacknowledged.
func (p *Producer) Close(ctx context.Context) int {
	p.mu.Lock()
	p.closing = true
	queues := make([]*partitionQueue, 0, len(p.queues))
	for _, q := range p.queues {
		queues = append(queues, q)
	}
	p.mu.Unlock()
	for _, q := range queues {
		q.close()
	}
	done := make(chan struct{})
	// Exits when every sender has returned (each returns on an empty queue
	// or on the hard stop below).
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.hardStop()
		<-done
	}
	p.hardStop()
	p.transport.CloseIdleConnections()
	left := 0
	for _, q := range queues {
		left += q.pending()
	}
	return left
}

// partitionQueue is the accumulator of one topic-partition: the open batch
// and the sealed batches waiting for the sender.
type partitionQueue struct {
	tp       topicPartition
	wake     chan struct{} // capacity 1: "something changed"
	mu       sync.Mutex
	open     *batch
	sealed   []*batch
	closing  bool
	inFlight int
	// free holds record slices of acknowledged batches for new batches
	// (at most maxFree). A per-queue list, not a sync.Pool: the pool was
	// emptied by every other GC cycle and missed on most batches.
	free [][]Record
	// scratch is the sender's reusable encode state (sender goroutine only).
	scratch encodeScratch
}

// maxFree bounds the recycled record slices kept per partition.
const maxFree = 2

type batch struct {
	records []Record
	bytes   int
	created time.Time
}

func (q *partitionQueue) append(recs []Record, maxBytes int) {
	q.mu.Lock()
	notify := false
	for i := range recs {
		sz := recs[i].size()
		if q.open != nil && q.open.bytes+sz > maxBytes && len(q.open.records) > 0 {
			q.sealed = append(q.sealed, q.open)
			q.open = nil
			notify = true
		}
		if q.open == nil {
			var rs []Record
			if n := len(q.free); n > 0 {
				rs, q.free[n-1] = q.free[n-1], nil
				q.free = q.free[:n-1]
			} else {
				rs = newRecordSlice(len(recs)-i, maxBytes/sz)
			}
			q.open = &batch{created: time.Now(), records: rs}
			notify = true
		}
		q.open.records = append(q.open.records, recs[i])
		q.open.bytes += sz
	}
	q.mu.Unlock()
	if notify {
		q.signal()
	}
}

// newRecordSlice returns an empty slice for a new batch when no recycled
// one is free: sized for the records at hand (n, at least 64) but never
// beyond what the batch can hold (limit). Sizing every new batch for a full
// batch cost 560 KB per batch when a live file's batches close on linger
// with a few records each; slices grow, and recycled ones keep their size.
func newRecordSlice(n, limit int) []Record {
	return make([]Record, 0, min(max(n, 64), max(limit, 1), 1<<14))
}

// recycle gives the record slice of a fully resolved batch back to the
// queue (growing a fresh slice per batch was a quarter of the agent's
// allocated bytes). Nothing may reference b.records afterwards.
func (q *partitionQueue) recycle(b *batch) {
	clear(b.records) // drop the values and acks
	rs := b.records[:0]
	b.records = nil
	q.mu.Lock()
	if len(q.free) < maxFree {
		q.free = append(q.free, rs)
	}
	q.mu.Unlock()
}

func (q *partitionQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *partitionQueue) close() {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	q.signal()
}

// pending counts records not yet acknowledged (queued or in flight).
func (q *partitionQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.inFlight
	if q.open != nil {
		n += len(q.open.records)
	}
	for _, b := range q.sealed {
		n += len(b.records)
	}
	return n
}

// next blocks until a batch is ready: a sealed one, or the open one once
// linger has passed (at once when closing). It returns nil when the queue
// is closing and empty, or on stop.
func (q *partitionQueue) next(linger time.Duration, stop <-chan struct{}) *batch {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		if len(q.sealed) > 0 {
			b := q.sealed[0]
			q.sealed[0] = nil
			q.sealed = q.sealed[1:]
			q.inFlight = len(b.records)
			q.mu.Unlock()
			return b
		}
		wait := time.Hour
		if q.open != nil && len(q.open.records) > 0 {
			age := time.Since(q.open.created)
			if q.closing || age >= linger {
				b := q.open
				q.open = nil
				q.inFlight = len(b.records)
				q.mu.Unlock()
				return b
			}
			wait = linger - age
		} else if q.closing {
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-q.wake:
		case <-timer.C:
		case <-stop:
			return nil
		}
	}
}

func (q *partitionQueue) sent() {
	q.mu.Lock()
	q.inFlight = 0
	q.mu.Unlock()
}

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
var errStopped = errors.New("pipeline: producer stopped")

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
	base, err := p.send(tp, recs, s)
	switch {
	case err == nil:
		p.acked(tp, recs, base)
		return true
	case errors.Is(err, errStopped):
		return false
	case isTooLarge(err):
		p.learnLimit(tp.topic, batchSize(recs))
		if len(recs) > 1 {
			half := len(recs) / 2
			return p.deliver(tp, recs[:half], s) && p.deliver(tp, recs[half:], s)
		}
		return p.oversize(tp, &recs[0], err)
	default: // invalid record
		if len(recs) > 1 {
			half := len(recs) / 2
			return p.deliver(tp, recs[:half], s) && p.deliver(tp, recs[half:], s)
		}
		p.drop(tp, recs, "invalid", err)
		return true
	}
}

// send sends one produce request for recs and retries it until the broker
// acknowledges it, returning the base offset. It gives up only when the
// broker rejects the records themselves (too large, invalid: the error is
// returned) or on a hard stop (errStopped). Leader and routing errors force
// a metadata refresh before the retry, and their retries are at most
// minRefreshInterval apart however long the outage, so a new leader is used
// within about a second of being elected. Below min ISR
// (NOT_ENOUGH_REPLICAS) the request is simply retried: nothing is
// acknowledged, so no checkpoint moves.
func (p *Producer) send(tp topicPartition, recs []Record, s *encodeScratch) (int64, error) {
	backoff := p.opts.RetryBackoff
	for resend := false; ; {
		if resend {
			p.m.retried.Add(float64(len(recs)))
		}
		base, err := p.produce(tp, recs, s)
		if err == nil {
			return base, nil
		}
		if p.sendCtx.Err() != nil {
			return 0, errStopped
		}
		resend = mayBeStored(err)
		code := errorCode(err)
		p.m.sendErrors.WithLabelValues(code).Inc()
		if isTooLarge(err) || errors.Is(err, kafka.InvalidRecord) {
			return 0, err
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
		case errors.Is(err, kafka.UnknownTopicOrPartition) || strings.Contains(err.Error(), "not found"):
			p.logOnce(code+"/"+tp.topic, slog.LevelError, "topic or partition unknown to the cluster, retrying",
				"topic", tp.topic, "partition", tp.partition, "records", len(recs), "error", err)
		default:
			p.logOnce(code+"/"+tp.topic, slog.LevelWarn, "produce failed, retrying",
				"topic", tp.topic, "partition", tp.partition, "records", len(recs), "error", err)
		}
		select {
		case <-time.After(sleep):
		case <-p.sendCtx.Done():
			return 0, errStopped
		}
		if refreshDue {
			p.refreshMetadata()
		}
	}
}

// produce sends one produce request and returns the base offset assigned by
// the broker, or the transport or broker error.
//
// The request's records come from s. After an error kafka-go may still be
// encoding the abandoned request on its connection goroutine, so s gives
// up its slices and the next attempt allocates fresh ones.
func (p *Producer) produce(tp topicPartition, recs []Record, s *encodeScratch) (int64, error) {
	res, err := p.produceFn(p.sendCtx, &kafka.ProduceRequest{
		Topic:        tp.topic,
		Partition:    tp.partition,
		RequiredAcks: p.opts.Acks,
		Records:      kafkaRecords(recs, s),
		Compression:  p.opts.Compression,
	})
	if err != nil {
		if s != nil {
			*s = encodeScratch{}
		}
		return 0, err
	}
	if res == nil {
		return 0, errors.New("pipeline: produce returned no response")
	}
	if res.Error != nil {
		return 0, res.Error
	}
	for idx, rerr := range res.RecordErrors {
		return 0, fmt.Errorf("pipeline: record %d rejected: %w", idx, rerr)
	}
	return res.BaseOffset, nil
}

// encodeScratch is a sender's reusable kafka-go view of one request: the
// record slice and the key and value readers. One request is in flight per
// partition, so after a successful produce the next request reuses them.
type encodeScratch struct {
	rr         recordReader
	vals, keys []bytesValue
}

// kafkaRecords is the encode stage: the records of one produce request as
// kafka-go reads them, built in s (nil: fresh). It allocates nothing per
// record, and nothing at all once s has grown to the batch size. kafka-go
// encodes each record as it reads it.
func kafkaRecords(recs []Record, s *encodeScratch) kafka.RecordReader {
	if s == nil {
		s = new(encodeScratch)
	}
	n := len(recs)
	s.rr.next = 0
	s.rr.records = grow(s.rr.records, n)
	s.vals = grow(s.vals, n)
	for i := range recs {
		r := &recs[i]
		s.vals[i] = bytesValue{b: r.Value}
		s.rr.records[i] = kafka.Record{Time: r.Time, Headers: r.Headers, Value: &s.vals[i]}
		if r.Key != nil {
			if len(s.keys) != n {
				s.keys = grow(s.keys, n)
			}
			s.keys[i] = bytesValue{b: r.Key}
			s.rr.records[i].Key = &s.keys[i]
		}
	}
	return &s.rr
}

// grow returns s resized to n elements (zeroed), reusing its array when it
// is large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// recordReader hands out the records of one produce request in order.
type recordReader struct {
	records []kafka.Record
	next    int
}

// ReadRecord implements kafka.RecordReader.
func (r *recordReader) ReadRecord() (*kafka.Record, error) {
	if r.next == len(r.records) {
		return nil, io.EOF
	}
	r.next++
	return &r.records[r.next-1], nil
}

// bytesValue is a record key or value as kafka-go's Bytes: a reader over a
// slice the record owns. WriteTo lets io.Copy move it in one write.
type bytesValue struct {
	b   []byte
	off int
}

func (v *bytesValue) Len() int     { return len(v.b) - v.off }
func (v *bytesValue) Close() error { return nil }

func (v *bytesValue) Read(p []byte) (int, error) {
	if v.off >= len(v.b) {
		return 0, io.EOF
	}
	n := copy(p, v.b[v.off:])
	v.off += n
	return n, nil
}

func (v *bytesValue) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(v.b[v.off:])
	v.off += n
	return int64(n), err
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

func isLeaderError(err error) bool {
	for _, e := range []error{kafka.NotLeaderForPartition, kafka.LeaderNotAvailable, kafka.UnknownTopicOrPartition,
		kafka.FencedLeaderEpoch, kafka.UnknownLeaderEpoch, kafka.NotController, kafka.BrokerNotAvailable,
		kafka.ReplicaNotAvailable, kafka.KafkaStorageError} {
		if errors.Is(err, e) {
			return true
		}
	}
	// kafka-go reports a partition missing from its cached layout as a
	// plain error ("... has no leader", "... not found").
	msg := err.Error()
	return strings.Contains(msg, "no leader") || strings.Contains(msg, "not found") || isNetError(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded)
}

// mayBeStored reports whether a failed produce request may nevertheless
// have been stored, so that sending it again may duplicate its records.
// Not stored: requests that never left (dial errors; no leader, partition or
// broker in kafka-go's layout) and broker answers given before the append
// (NOT_ENOUGH_REPLICAS, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE,
// authorization and SASL errors). Everything else may have been stored: a
// transport error once the request may have been written, a timeout, and
// also NOT_LEADER_OR_FOLLOWER, which a leader returns for a request it
// appended and then held waiting for acks=all when it loses leadership (a
// clean leader bounce measured 600 duplicates after such answers).
func mayBeStored(err error) bool {
	for _, e := range []error{kafka.NotEnoughReplicas, kafka.UnknownTopicOrPartition, kafka.LeaderNotAvailable,
		kafka.BrokerNotAvailable, kafka.TopicAuthorizationFailed, kafka.ClusterAuthorizationFailed,
		kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState, kafka.InvalidRequiredAcks} {
		if errors.Is(err, e) {
			return false
		}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	msg := err.Error()
	return !strings.Contains(msg, "no leader") && !strings.Contains(msg, "not found")
}

func isTooLarge(err error) bool {
	return errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge)
}

// isNetError reports a transport error. kafka.Error has Timeout and
// Temporary methods too, so it satisfies net.Error: broker error codes are
// excluded explicitly.
func isNetError(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// errorCode is the label for logship_send_errors_total: the Kafka error
// name, or a coarse class for transport errors.
func errorCode(err error) string {
	var ke kafka.Error
	if errors.As(err, &ke) {
		return strings.ToLower(strings.ReplaceAll(ke.Title(), " ", "_"))
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case isNetError(err):
		return "network"
	}
	return "other"
}
