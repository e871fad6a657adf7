package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"time"
)

func (c *Cluster) waitReady(ctx context.Context, n *node, want int) error {
	c.mu.Lock()
	pid := n.pid
	c.mu.Unlock()
	var last error
	err := pollUntil(ctx, 100*time.Millisecond, func() (bool, error) {
		if alive, _ := procStatus(pid); !alive {
			return false, errors.New("broker process exited")
		}
		ids, err := brokerIDs(ctx, n.addr())
		if err != nil {
			last = err
			return false, nil
		}
		if !containsInt(ids, n.index) || len(ids) < want {
			last = fmt.Errorf("metadata lists brokers %v", ids)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		if last != nil {
			err = fmt.Errorf("%w (last: %v)", err, last)
		}
		return fmt.Errorf("kafkatest: node %d (%s) not ready: %w\n%s", n.index, n.addr(), err, nodeLogTail(n))
	}
	return nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// pollUntil calls cond every interval until it returns true, returns an
// error, or ctx ends.
func pollUntil(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// freePorts reserves n distinct free TCP ports on 127.0.0.1. The ports are
// released before return, so another process could take one before the broker
// binds it; the broker then fails to start with a clear log line.
