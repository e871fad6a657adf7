package producer

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicStall describes the records of one topic that have waited for an
// acknowledgement without any progress: a deleted topic, partitions that
// no longer exist, a topic the agent may not write to.
type TopicStall struct {
	Topic      string
	Partitions []int     // the stalled partitions, ascending
	Records    int       // records waiting in them (queued or in flight)
	Since      time.Time // the oldest moment from which they made no progress
}

// Stalled reports, per topic (sorted by name), the partitions holding
// records with no batch acknowledged for longer than after. Safe from any
// goroutine; meant for /readyz and `logship status`.
func (p *Producer) Stalled(after time.Duration) []TopicStall {
	p.mu.Lock()
	queues := make([]*partitionQueue, 0, len(p.queues))
	for _, q := range p.queues {
		queues = append(queues, q)
	}
	p.mu.Unlock()
	now := time.Now()
	byTopic := map[string]*TopicStall{}
	for _, q := range queues {
		n := q.pending()
		since := time.Unix(0, q.progress.Load())
		if n == 0 || now.Sub(since) <= after {
			continue
		}
		st := byTopic[q.tp.topic]
		if st == nil {
			st = &TopicStall{Topic: q.tp.topic, Since: since}
			byTopic[q.tp.topic] = st
		}
		st.Partitions = append(st.Partitions, q.tp.partition)
		st.Records += n
		if since.Before(st.Since) {
			st.Since = since
		}
	}
	out := make([]TopicStall, 0, len(byTopic))
	for _, st := range byTopic {
		slices.Sort(st.Partitions)
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b TopicStall) int { return cmp.Compare(a.Topic, b.Topic) })
	return out
}

// errPartitionGone is returned by send for a partition that the topic no
// longer has (deleted and recreated with fewer partitions).
var errPartitionGone = errors.New("producer: partition no longer exists")

// isUnknownPartition reports an error that may mean the topic or the
// partition does not exist: the broker's UNKNOWN_TOPIC_OR_PARTITION, or
// kafka-go's typed errors for a topic, partition or leader missing from its
// cached layout.
func isUnknownPartition(err error) bool {
	return errors.Is(err, kafka.UnknownTopicOrPartition) || isLayoutError(err)
}

// partitionGone reports whether tp's topic exists with fewer partitions
// than tp.partition+1. A topic that does not exist (deleted, not yet
// recreated) is not "gone" here: its records wait for it.
func (p *Producer) partitionGone(tp topicPartition) bool {
	// Bounded well below RequestTimeout: kafka-go also says "not found"
	// while it has no cluster layout at all (broker down), and the retry
	// must not wait for a metadata request that cannot succeed.
	ctx, cancel := context.WithTimeout(p.sendCtx, min(p.opts.RequestTimeout, time.Second))
	defer cancel()
	n, err := p.Partitions(ctx, tp.topic)
	return err == nil && tp.partition >= n
}

// repartition moves records of a partition the topic no longer has to
// partition tp.partition mod n of its n partitions, at the end of that
// partition's queue (also while closing: the drain waits for them too):
// never dropped, resolved once that partition takes them. When the topic
// is back with the partition, or gone altogether, the records are sent
// again where they were; the result is then deliver's.
func (p *Producer) repartition(tp topicPartition, recs []Record) bool {
	ctx, cancel := context.WithTimeout(p.sendCtx, p.opts.RequestTimeout)
	defer cancel()
	n, err := p.Partitions(ctx, tp.topic)
	if err != nil || tp.partition < n {
		// Back again, or gone altogether: the caller's next attempt
		// decides. Returning true here would claim the records resolved.
		return p.deliver(tp, recs, nil)
	}
	to := tp.partition % n
	moved := slices.Clone(recs)                             // recs is the batch's slice, recycled after
	_ = p.append(topicPartition{tp.topic, to}, moved, true) // owned: never refused
	p.logOnce("repartition/"+tp.topic, slog.LevelWarn, "partition no longer exists, records moved to another partition",
		"topic", tp.topic, "from", tp.partition, "to", to, "partitions", n, "records", len(recs))
	return true
}
