package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// ErrNoLeader is returned (wrapped) by Leader when the partition currently has
// no leader.
var ErrNoLeader = errors.New("partition has no leader")

// PartitionState is one partition as seen in a fresh metadata response. Node
// values are node indexes; Leader is -1 when there is none.
type PartitionState struct {
	ID       int
	Leader   int
	Replicas []int
	ISR      []int
}

// Message is one record read back from Kafka by ReadAll.
type Message struct {
	Partition int
	Offset    int64
	Key       []byte // empty when the record has no key
	Value     []byte
	Headers   []Header
	Time      time.Time
}

const (
	dialTimeout    = 2 * time.Second
	requestTimeout = 5 * time.Second
)

// runningNodes returns the nodes whose process is alive and not paused, so
// admin requests never hang on a frozen broker.
func (c *Cluster) runningNodes() []*node {
	var out []*node
	for i, n := range c.nodes {
		if c.Node(i).State == NodeRunning {
			out = append(out, n)
		}
	}
	return out
}

// setDeadline bounds conn by the earlier of ctx's deadline and
// requestTimeout from now.
func setDeadline(ctx context.Context, conn *kafka.Conn) {
	deadline := time.Now().Add(requestTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
}

// dial opens a fresh connection to addr whose deadline is the earlier of ctx's
// and requestTimeout from now. Fresh connections mean fresh metadata.
func dial(ctx context.Context, addr string) (*kafka.Conn, error) {
	d := &kafka.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	setDeadline(ctx, conn)
	return conn, nil
}

// brokerIDs asks addr for the ids of the brokers it considers alive.
func brokerIDs(ctx context.Context, addr string) ([]int, error) {
	conn, err := dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	brokers, err := conn.Brokers()
	if err != nil {
		return nil, err
	}
	ids := make([]int, len(brokers))
	for i, b := range brokers {
		ids[i] = b.ID
	}
	return ids, nil
}

// metadata returns topic's partitions from the first running node that
// answers. Leader.Host is empty when a partition has no leader.
func (c *Cluster) metadata(ctx context.Context, topic string) ([]kafka.Partition, error) {
	var errs []error
	for _, n := range c.runningNodes() {
		parts, err := partitionsFrom(ctx, n.addr(), topic)
		if err == nil {
			return parts, nil
		}
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		errs = append(errs, fmt.Errorf("node %d: %w", n.index, err))
	}
	if len(errs) == 0 {
		return nil, errors.New("no running node")
	}
	return nil, errors.Join(errs...)
}

func partitionsFrom(ctx context.Context, addr, topic string) ([]kafka.Partition, error) {
	conn, err := dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(parts, func(a, b kafka.Partition) int { return a.ID - b.ID })
	return parts, nil
}

// Partitions returns the state of every partition of topic, sorted by ID,
// from a fresh metadata request to the first running node that answers.
// Brokers update their metadata asynchronously, so right after a fault the
// answer may be briefly stale: poll it with a deadline.
func (c *Cluster) Partitions(ctx context.Context, topic string) ([]PartitionState, error) {
	parts, err := c.metadata(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: partitions: %w", err)
	}
	out := make([]PartitionState, len(parts))
	for i, p := range parts {
		out[i] = PartitionState{ID: p.ID, Leader: -1, Replicas: brokerIndexes(p.Replicas), ISR: brokerIndexes(p.Isr)}
		if p.Leader.Host != "" {
			out[i].Leader = p.Leader.ID
		}
	}
	return out, nil
}

func brokerIndexes(bs []kafka.Broker) []int {
	out := make([]int, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	slices.Sort(out)
	return out
}

// Leader returns the index of the node leading topic's partition, from fresh
// metadata (see Partitions). It fails with ErrNoLeader when the partition has
// none.
func (c *Cluster) Leader(ctx context.Context, topic string, partition int) (int, error) {
	parts, err := c.Partitions(ctx, topic)
	if err != nil {
		return -1, err
	}
	for _, p := range parts {
		if p.ID == partition {
			if p.Leader < 0 {
				return -1, fmt.Errorf("kafkatest: leader of %s/%d: %w", topic, partition, ErrNoLeader)
			}
			return p.Leader, nil
		}
	}
	return -1, fmt.Errorf("kafkatest: leader of %s/%d: no such partition (topic has %d)", topic, partition, len(parts))
}

// CreateTopic creates topic with the given partitions, replication factor (0
// means 3 on a three-node cluster, 1 otherwise) and topic configs, then waits
// until every running node's metadata shows a leader for every partition and
// each leader answers a ListOffsets request. Transient errors are retried
// until ctx ends (default deadline 60s when ctx has none); an existing topic
// is an error.
func (c *Cluster) CreateTopic(ctx context.Context, name string, partitions, rf int, configs map[string]string) error {
	ctx, cancel := withDefaultTimeout(ctx, 60*time.Second)
	defer cancel()
	if rf == 0 {
		rf = min(len(c.nodes), 3)
	}
	topic := kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: rf}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		topic.ConfigEntries = append(topic.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: configs[k]})
	}
	err := c.retryAdmin(ctx, kafka.TopicAlreadyExists, func(client *kafka.Client) error {
		resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{topic}})
		if err != nil {
			return err
		}
		return resp.Errors[topic.Topic]
	})
	if err != nil {
		return fmt.Errorf("kafkatest: create topic %s: %w", name, err)
	}
	if err := c.waitTopic(ctx, name, partitions); err != nil {
		return fmt.Errorf("kafkatest: create topic %s: %w", name, err)
	}
	return nil
}

// retryAdmin sends one admin request through op to the running nodes,
// retrying retriable errors every 200ms until ctx ends. lostAnswer is the
// error a retry gets when an earlier attempt got through but its answer was
// lost (topic already exists, unknown topic); after a retry it counts as
// success. A failure after retries names the last retriable error.
func (c *Cluster) retryAdmin(ctx context.Context, lostAnswer error, op func(*kafka.Client) error) error {
	retried := false
	var last error
	err := pollUntil(ctx, 200*time.Millisecond, func() (bool, error) {
		err := c.adminOnce(op)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, lostAnswer) && retried:
			return true, nil // an earlier attempt got through but its answer was lost
		case isRetriable(err):
			retried, last = true, err
			return false, nil
		default:
			return false, err
		}
	})
	if err != nil && last != nil {
		err = fmt.Errorf("%w (last: %v)", err, last)
	}
	return err
}

// adminOnce runs op once with a client addressed to every running node.
func (c *Cluster) adminOnce(op func(*kafka.Client) error) error {
	var addrs []string
	for _, n := range c.runningNodes() {
		addrs = append(addrs, n.addr())
	}
	if len(addrs) == 0 {
		return errNoRunningNode
	}
	tr := &kafka.Transport{DialTimeout: dialTimeout}
	defer tr.CloseIdleConnections()
	return op(&kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 10 * time.Second, Transport: tr})
}

var errNoRunningNode = errors.New("no running node")

// isRetriable reports whether err may go away by itself: Kafka's retriable
// errors, network errors, and no node running yet.
func isRetriable(err error) bool {
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary()
	}
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, errNoRunningNode) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// waitTopic polls until every running node reports partitions leaders for
// topic and every leader answers ListOffsets.
func (c *Cluster) waitTopic(ctx context.Context, topic string, partitions int) error {
	var last error
	err := pollUntil(ctx, 100*time.Millisecond, func() (bool, error) {
		last = c.topicReady(ctx, topic, partitions)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("not ready: %w (last: %v)", err, last)
	}
	return nil
}

func (c *Cluster) topicReady(ctx context.Context, topic string, partitions int) error {
	var parts []kafka.Partition
	for _, n := range c.runningNodes() {
		p, err := partitionsFrom(ctx, n.addr(), topic)
		if err != nil {
			return fmt.Errorf("node %d: %w", n.index, err)
		}
		if len(p) != partitions {
			return fmt.Errorf("node %d: %d of %d partitions", n.index, len(p), partitions)
		}
		for _, q := range p {
			if q.Leader.Host == "" {
				return fmt.Errorf("node %d: partition %d has no leader", n.index, q.ID)
			}
		}
		parts = p
	}
	if parts == nil {
		return errNoRunningNode
	}
	for _, p := range parts {
		if _, err := partitionOffset(ctx, p, kafka.LastOffset); err != nil {
			return fmt.Errorf("partition %d leader %d: %w", p.ID, p.Leader.ID, err)
		}
	}
	return nil
}

// partitionOffset asks p's leader (as p names it) for the first or last
// (high watermark) offset.
func partitionOffset(ctx context.Context, p kafka.Partition, which int64) (int64, error) {
	conn, err := dialPartition(ctx, p)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if which == kafka.FirstOffset {
		return conn.ReadFirstOffset()
	}
	return conn.ReadLastOffset()
}

func dialPartition(ctx context.Context, p kafka.Partition) (*kafka.Conn, error) {
	d := &kafka.Dialer{Timeout: dialTimeout}
	conn, err := d.DialPartition(ctx, "tcp", net.JoinHostPort(p.Leader.Host, strconv.Itoa(p.Leader.Port)), p)
	if err != nil {
		return nil, err
	}
	setDeadline(ctx, conn)
	return conn, nil
}

// offsetRange is the readable range [first, end) of one partition.
type offsetRange struct {
	partition kafka.Partition
	first     int64
	end       int64 // the high watermark
}

// offsetRanges returns the first offset and high watermark of every
// partition of topic, retrying transient errors (leader moves) until ctx
// ends.
func (c *Cluster) offsetRanges(ctx context.Context, topic string) ([]offsetRange, error) {
	var (
		out  []offsetRange
		last error
	)
	err := pollUntil(ctx, 200*time.Millisecond, func() (bool, error) {
		parts, err := c.metadata(ctx, topic)
		if err != nil {
			if errors.Is(err, kafka.UnknownTopicOrPartition) {
				return false, err
			}
			last = err
			return false, nil
		}
		out = out[:0]
		for _, p := range parts {
			if p.Leader.Host == "" {
				last = fmt.Errorf("partition %d: %w", p.ID, ErrNoLeader)
				return false, nil
			}
			first, err := partitionOffset(ctx, p, kafka.FirstOffset)
			if err == nil {
				var end int64
				if end, err = partitionOffset(ctx, p, kafka.LastOffset); err == nil {
					out = append(out, offsetRange{partition: p, first: first, end: end})
					continue
				}
			}
			last = fmt.Errorf("partition %d: %w", p.ID, err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		if last != nil {
			err = fmt.Errorf("%w (last: %v)", err, last)
		}
		return nil, err
	}
	return out, nil
}

// HighWatermarks returns the high watermark (the offset the next record will
// get; everything below it is committed) of every partition of topic, asking
// each partition's current leader. Leader moves are retried until ctx ends
// (default deadline 30s when ctx has none); an unknown topic fails at once.
func (c *Cluster) HighWatermarks(ctx context.Context, topic string) (map[int]int64, error) {
	ctx, cancel := withDefaultTimeout(ctx, 30*time.Second)
	defer cancel()
	ranges, err := c.offsetRanges(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: high watermarks of %s: %w", topic, err)
	}
	hw := make(map[int]int64, len(ranges))
	for _, r := range ranges {
		hw[r.partition.ID] = r.end
	}
	return hw, nil
}
