package producer

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

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
		return 0, fmt.Errorf("producer: metadata for topic %s: %w", topic, err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return 0, fmt.Errorf("producer: metadata for topic %s: %w", topic, t.Error)
		}
		if len(t.Partitions) == 0 {
			return 0, fmt.Errorf("producer: topic %s has no partitions", topic)
		}
		p.metaMu.Lock()
		p.partCounts[topic] = partitionCount{n: len(t.Partitions), fetched: time.Now()}
		p.metaMu.Unlock()
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("producer: topic %s: %w", topic, kafka.UnknownTopicOrPartition)
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
