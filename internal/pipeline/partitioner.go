package pipeline

import (
	"fmt"
	"sync/atomic"

	"github.com/logship/logship/internal/config"
)

// Partitioner chooses the partition of a record. Partition is called from
// the emitting reader goroutine; implementations are safe for concurrent use.
type Partitioner interface {
	Partition(key []byte, partitions int) int
}

// NewPartitioner returns the partitioner named in the configuration:
// "hash" (murmur2 of the key as the Java client places keys; records without
// a key go round robin), "round_robin", or "fixed" (always partition p).
func NewPartitioner(name config.Partitioner, fixed int32) (Partitioner, error) {
	switch name {
	case "", config.PartitionerHash:
		return &hashPartitioner{}, nil
	case config.PartitionerRoundRobin:
		return &roundRobin{}, nil
	case config.PartitionerFixed:
		if fixed < 0 {
			return nil, fmt.Errorf("partitioner: fixed partition %d is negative", fixed)
		}
		return fixedPartition(fixed), nil
	}
	return nil, fmt.Errorf("partitioner: unknown partitioner %q", name)
}

type hashPartitioner struct{ rr roundRobin }

// Partition places keyed records exactly as the Java client's default
// partitioner does: toPositive(murmur2(key)) % partitions.
func (h *hashPartitioner) Partition(key []byte, partitions int) int {
	if key == nil {
		return h.rr.Partition(nil, partitions)
	}
	return int((Murmur2(key) & 0x7fffffff) % uint32(partitions))
}

type roundRobin struct{ next atomic.Uint32 }

func (r *roundRobin) Partition(_ []byte, partitions int) int {
	return int((r.next.Add(1) - 1) % uint32(partitions))
}

type fixedPartition int32

// Partition returns the fixed partition; a partition beyond the topic's
// count is reported by the broker and retried, never silently remapped.
func (f fixedPartition) Partition(_ []byte, _ int) int { return int(f) }

// Murmur2 is the 32-bit murmur2 hash with the seed and tail handling of
// Apache Kafka's org.apache.kafka.common.utils.Utils.murmur2.
func Murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[length&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
