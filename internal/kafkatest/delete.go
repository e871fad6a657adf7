package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// DeleteTopic deletes topic and waits until no running node's metadata
// lists it any more, so it can be created again (with another partition
// count) right after. Transient errors are retried until ctx ends (default
// deadline 60s when ctx has none); a topic that does not exist is an error.
func (c *Cluster) DeleteTopic(ctx context.Context, name string) error {
	ctx, cancel := withDefaultTimeout(ctx, 60*time.Second)
	defer cancel()
	err := c.retryAdmin(ctx, kafka.UnknownTopicOrPartition, func(client *kafka.Client) error {
		resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}})
		if err != nil {
			return err
		}
		return resp.Errors[name]
	})
	if err != nil {
		return fmt.Errorf("kafkatest: delete topic %s: %w", name, err)
	}
	var last error
	err = pollUntil(ctx, 100*time.Millisecond, func() (bool, error) {
		for _, n := range c.runningNodes() {
			if _, err := partitionsFrom(ctx, n.addr(), name); !errors.Is(err, kafka.UnknownTopicOrPartition) {
				last = err
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("kafkatest: delete topic %s: still listed: %w (last: %v)", name, err, last)
	}
	return nil
}
