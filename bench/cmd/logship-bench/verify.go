package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// broker is the bench's view of the cluster: a kafka-go client used only
// for high watermarks (ListOffsets), never for producing.
type broker struct {
	bootstrap string
	client    *kafka.Client
}

func newBroker(bootstrap string) *broker {
	tr := &kafka.Transport{DialTimeout: 5 * time.Second}
	return &broker{bootstrap: bootstrap,
		client: &kafka.Client{Addr: kafka.TCP(bootstrap), Timeout: 10 * time.Second, Transport: tr}}
}

// highWater returns the sum of the high watermarks of partitions 0..parts-1
// of topic: the number of records the broker has committed (every topic
// here starts empty and is never compacted or truncated).
func (b *broker) highWater(ctx context.Context, topic string, parts int) (int64, error) {
	reqs := make([]kafka.OffsetRequest, parts)
	for p := range parts {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := b.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, err
	}
	var sum int64
	got := 0
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return 0, fmt.Errorf("partition %d: %w", po.Partition, po.Error)
		}
		sum += po.LastOffset
		got++
	}
	if got != parts {
		return 0, fmt.Errorf("high watermarks of %s: %d of %d partitions answered", topic, got, parts)
	}
	return sum, nil
}

// waitHighWater polls the high watermark every interval until it reaches n,
// alive() reports false, or timeout passes.
func (b *broker) waitHighWater(ctx context.Context, topic string, parts int, n int64, interval, timeout time.Duration, alive func() error) error {
	deadline := time.Now().Add(timeout)
	var last int64
	var lastErr error
	for {
		hw, err := b.highWater(ctx, topic, parts)
		if err == nil {
			last = hw
			if hw >= n {
				return nil
			}
		} else {
			lastErr = err
		}
		if err := alive(); err != nil {
			return fmt.Errorf("producer died at %d/%d records: %w", last, n, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s at %d/%d records in %s (last error: %v)", timeout, last, n, topic, lastErr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// verdict is what the independent consumer found in one topic.
type verdict struct {
	Records   int   // records read
	HighWater int64 // sum of high watermarks before reading
	Missing   int   // sequence numbers 0..n-1 never seen
	Dups      int   // extra copies
	Malformed int
	FirstMiss int // first missing seq, -1 if none
	// DelaysMs are broker append time − write time, per record, in
	// milliseconds (only when asked; needs a LogAppendTime topic).
	DelaysMs []float64
}

// OK reports whether every line 0..n-1 arrived exactly as counted.
func (v verdict) OK() bool {
	return v.Missing == 0 && v.Malformed == 0
}

func (v verdict) String() string {
	s := fmt.Sprintf("%d records (hw %d), missing %d, duplicates %d, malformed %d", v.Records, v.HighWater, v.Missing, v.Dups, v.Malformed)
	if v.FirstMiss >= 0 {
		s += fmt.Sprintf(", first missing seq %d", v.FirstMiss)
	}
	return s
}

// verify reads topic from the beginning with kcat's consumer (librdkafka,
// which shares no code with logship's kafka-go producer) and checks that
// every sequence number 0..n-1 is present. With delays it also computes,
// per record, the broker's LogAppendTime minus the write stamp in the line.
// skipBefore excludes records with a write stamp before that time (unix ns)
// from the delays (warm-up), never from the completeness check.
func verify(ctx context.Context, kcat string, b *broker, topic string, parts, n int, delays bool, skipBefore int64) (verdict, error) {
	v := verdict{FirstMiss: -1}
	hw, err := b.highWater(ctx, topic, parts)
	if err != nil {
		return v, fmt.Errorf("verify %s: %w", topic, err)
	}
	v.HighWater = hw
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", b.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
		"-X", "fetch.max.bytes=52428800", "-f", "%T %s\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return v, err
	}
	if err := cmd.Start(); err != nil {
		return v, fmt.Errorf("verify %s: start kcat consumer: %w", topic, err)
	}
	seen := make([]uint64, (n+63)/64)
	r := bufio.NewReaderSize(out, 1<<20)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			v.Malformed++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			continue
		}
		if len(line) > 0 {
			v.Records++
			sp := bytes.IndexByte(line, ' ')
			var ts int64
			var seq int
			var stamp int64
			ok := sp > 0
			if ok {
				ts, err = strconv.ParseInt(string(line[:sp]), 10, 64)
				ok = err == nil
			}
			if ok {
				seq, stamp, ok = parseLine(line[sp+1:])
				ok = ok && seq >= 0 && seq < n
			}
			if !ok {
				v.Malformed++
			} else {
				w, bit := seq/64, uint64(1)<<(seq%64)
				if seen[w]&bit != 0 {
					v.Dups++
				} else {
					seen[w] |= bit
				}
				if delays && stamp >= skipBefore {
					v.DelaysMs = append(v.DelaysMs, float64(ts)-float64(stamp)/1e6)
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return v, err
			}
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		return v, fmt.Errorf("verify %s: kcat consumer: %w: %s", topic, err, lastLines(stderr.String(), 5))
	}
	for seq := range n {
		if seen[seq/64]&(1<<(seq%64)) == 0 {
			if v.FirstMiss < 0 {
				v.FirstMiss = seq
			}
			v.Missing++
		}
	}
	if int64(v.Records) != hw {
		return v, fmt.Errorf("verify %s: consumer read %d records, high watermarks say %d", topic, v.Records, hw)
	}
	return v, nil
}

// percentile returns the p-th percentile (0..100) of sorted xs by the
// nearest-rank method.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

type delayStats struct {
	N             int
	P50, P99, Max float64
}

func statsOf(d []float64) delayStats {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return delayStats{P50: math.NaN(), P99: math.NaN(), Max: math.NaN()}
	}
	return delayStats{N: len(s), P50: percentile(s, 50), P99: percentile(s, 99), Max: s[len(s)-1]}
}
