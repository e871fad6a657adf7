package pipeline

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/segmentio/kafka-go"
)

// Vectors from Apache Kafka's UtilsTest.testMurmur2 (Java Utils.murmur2).
func TestMurmur2JavaVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	} {
		if got := int32(Murmur2([]byte(tc.in))); got != tc.want {
			t.Errorf("murmur2(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestHashPartitionerMatchesIndependentImplementation cross-checks the
// placement of random keys against kafka-go's Murmur2Balancer.
func TestHashPartitionerMatchesIndependentImplementation(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	p := &hashPartitioner{}
	for _, n := range []int{1, 3, 6, 12, 100} {
		ids := make([]int, n)
		for i := range ids {
			ids[i] = i
		}
		ref := kafka.Murmur2Balancer{Consistent: true}
		for i := range 20_000 {
			key := make([]byte, rng.IntN(64))
			for j := range key {
				key[j] = byte(rng.Uint32())
			}
			if i%3 == 0 {
				key = fmt.Appendf(nil, "/var/log/pods/ns_pod-%d/c/0.log", i)
			}
			if got, want := p.Partition(key, n), ref.Balance(kafka.Message{Key: key}, ids...); got != want {
				t.Fatalf("key %q over %d partitions: got %d, kafka-go says %d", key, n, got, want)
			}
		}
	}
}

func TestRoundRobinAndFixed(t *testing.T) {
	t.Parallel()
	rr, err := NewPartitioner("round_robin", 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for range 30 {
		seen[rr.Partition([]byte("k"), 3)]++
	}
	if seen[0] != 10 || seen[1] != 10 || seen[2] != 10 {
		t.Fatalf("round robin spread %v", seen)
	}
	f, err := NewPartitioner("fixed", 2)
	if err != nil {
		t.Fatal(err)
	}
	if f.Partition([]byte("x"), 3) != 2 {
		t.Fatal("fixed partitioner moved")
	}
	if _, err := NewPartitioner("fixed", -1); err == nil {
		t.Fatal("negative fixed partition accepted")
	}
	if _, err := NewPartitioner("bogus", 0); err == nil {
		t.Fatal("unknown partitioner accepted")
	}
}
