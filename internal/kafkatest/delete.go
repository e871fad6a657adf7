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
	retried := false
	var last error
	err := pollUntil(ctx, 200*time.Millisecond, func() (bool, error) {
		err := c.deleteOnce(ctx, name)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, kafka.UnknownTopicOrPartition) && retried:
			return true, nil // an earlier attempt got through but its answer was lost
		case isRetriable(err):
			retried, last = true, err
			return false, nil
		default:
			return false, err
		}
	})
	if err != nil {
		if last != nil {
			err = fmt.Errorf("%w (last: %v)", err, last)
		}
		return fmt.Errorf("kafkatest: delete topic %s: %w", name, err)
	}
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

func (c *Cluster) deleteOnce(ctx context.Context, name string) error {
	var addrs []string
	for _, n := range c.runningNodes() {
		addrs = append(addrs, n.addr())
	}
	if len(addrs) == 0 {
		return errNoRunningNode
	}
	tr := &kafka.Transport{DialTimeout: dialTimeout}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 10 * time.Second, Transport: tr}
	resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}})
	if err != nil {
		return err
	}
	return resp.Errors[name]
}
