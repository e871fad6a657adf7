package producer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logship/logship/internal/logthrottle"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// ErrClosed is returned by Append after Close has begun.
var ErrClosed = errors.New("producer: closed")

// Options configures a Producer. Zero durations and sizes are
// replaced by the documented defaults of agent.yaml.
type Options struct {
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
	opts      Options
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
	wg      sync.WaitGroup // one per partition sender, counted before Run starts it
	run     runState
	pending []*partitionQueue // senders for Run to start
	spawn   chan struct{}     // capacity 1: pending has grown

	metaMu      sync.Mutex
	partCounts  map[string]partitionCount
	limits      map[string]topicLimit // learned from MESSAGE_TOO_LARGE
	lastRefresh time.Time

	deadLetter *deadLetter // nil unless Oversize is OversizeDeadLetter
	encoders   *encoderPool

	// produceFn sends one produce request with an encoded record batch; it
	// is p.client.RawProduce except in tests of the error paths.
	produceFn func(context.Context, *kafka.RawProduceRequest) (*kafka.ProduceResponse, error)

	lastAck atomic.Int64 // unix nanos of the last acknowledgement
	// logs keeps each condition (error class and topic) to one log line
	// per logInterval.
	logs *logthrottle.Throttle
}

type topicPartition struct {
	topic     string
	partition int
}

type partitionCount struct {
	n       int
	fetched time.Time
}

// New validates opts and builds the Kafka client. It opens no
// connection: the first Partitions or send call dials.
func New(opts Options) (*Producer, error) {
	if len(opts.Brokers) == 0 {
		return nil, errors.New("producer: no brokers configured")
	}
	if opts.Acks == kafka.RequireNone {
		return nil, errors.New("producer: acks=none returns no RecordMetadata and is refused")
	}
	switch opts.Compression {
	case 0, kafka.Gzip, kafka.Snappy, kafka.Lz4, kafka.Zstd:
	default:
		return nil, fmt.Errorf("producer: unknown compression codec %d", opts.Compression)
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
			return nil, errors.New("producer: oversize policy dead_letter needs a dead-letter directory")
		}
		dl = &deadLetter{dir: opts.DeadLetterDir, max: opts.DeadLetterMaxBytes}
	default:
		return nil, fmt.Errorf("producer: unknown oversize policy %q", opts.Oversize)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if dl != nil {
		dl.log = opts.Logger.With("component", "producer")
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
		logs:       logthrottle.New(logInterval, nil),
		auth:       auth,
		m:          m,
		sendCtx:    ctx,
		hardStop:   cancel,
		queues:     make(map[topicPartition]*partitionQueue),
		spawn:      make(chan struct{}, 1),
		partCounts: make(map[string]partitionCount),
		limits:     make(map[string]topicLimit),
		deadLetter: dl,
		encoders:   newEncoderPool(opts.Compression, opts.BatchBytes),
	}
	p.produceFn = p.client.RawProduce
	return p, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Append adds records bound for one topic-partition to that partition's
// open batch, sealing batches at BatchBytes. It is called from reader
// goroutines and never blocks on the network (memory is bounded upstream
// by the checkpoint budget). After Close has begun it returns ErrClosed and
// takes none of the records; records it took are delivered or, after a
// hard stop, counted by Close as left unacknowledged. Safe to call
// concurrently with Close. It starts no goroutine: a new partition's
// sender is started by Run.
func (p *Producer) Append(topic string, partition int, recs []Record) error {
	return p.append(topicPartition{topic, partition}, recs, false)
}

// append is Append; with owned set (records the producer already took,
// moved by repartition) it takes them while closing too, into a queue that
// drains and closes like the others.
func (p *Producer) append(tp topicPartition, recs []Record, owned bool) error {
	p.mu.Lock()
	if p.closing && !owned {
		p.mu.Unlock()
		return ErrClosed
	}
	q := p.queues[tp]
	if q == nil {
		q = &partitionQueue{tp: tp, wake: make(chan struct{}, 1), closing: p.closing}
		p.queues[tp] = q
		p.startSender(q)
	}
	p.mu.Unlock()
	// Close may have begun since the check above: the queue itself
	// refuses the records once closing, so none land after its sender's
	// last look. Owned records are taken regardless; if the queue's sender
	// has already returned, a new one is started. The caller of an owned
	// append is a sender that has not returned, so Close's wg.Wait cannot
	// have passed.
	taken, restart := q.append(recs, p.opts.BatchBytes, owned)
	if restart {
		p.mu.Lock()
		p.startSender(q)
		p.mu.Unlock()
	}
	if !taken {
		return ErrClosed
	}
	return nil
}

// CountResent adds n to logship_records_retried_total, the bound on
// duplicates: records a caller gives up waiting for, whose lines its
// successor reads and sends again although the producer may still deliver
// them (a reload that timed out hands its files over at the committed
// offsets).
func (p *Producer) CountResent(n int) {
	p.m.retried.Add(float64(n))
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
// read again after restart; those of a request that may have been stored,
// and the split parts already stored, count in logship_records_retried_total
// (the copy sent after restart is a duplicate). It returns the number of
// records left unacknowledged.
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
		p.stop()
		<-done
	}
	p.hardStop()
	p.transport.CloseIdleConnections()
	left := 0
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range p.queues { // with any a repartition made meanwhile
		left += q.pending()
	}
	return left
}
