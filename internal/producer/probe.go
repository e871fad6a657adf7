package producer

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Ping sends one ApiVersions request to a broker of the cluster over the
// producer's connections and returns nil when a broker answered. Unlike
// metadata, which kafka-go serves from its cache and refreshes in the
// background (hiding outages), the request goes over the wire, so Ping tells
// whether the cluster is reachable now. ctx bounds the wait; callers run it
// from their own goroutine (the readiness probe).
func (p *Producer) Ping(ctx context.Context) error {
	res, err := p.client.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
	if err != nil {
		return fmt.Errorf("producer: ping: %w", err)
	}
	if res.Error != nil {
		return fmt.Errorf("producer: ping: %w", res.Error)
	}
	return nil
}
