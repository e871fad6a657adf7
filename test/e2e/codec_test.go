package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest"
)

// codecIDs are the compression codec ids of the record batch attributes
// (bits 0-2) in Kafka's message format v2.
var codecIDs = map[string]int16{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

// TestCodecsReadBackByKcat ships a file with every compression codec and
// reads the topic back with kcat (librdkafka, an implementation independent
// of kafka-go and logship) with CRC checks on: every line of the ledger is
// there, keyed by its source, with no more duplicates than records re-sent
// (0 without retries). It also reads the broker's log segments to check that
// every stored batch carries the configured codec (the topic's
// compression.type is "producer", so the broker keeps what it was sent).
func TestCodecsReadBackByKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (scripts/setup installs it): %v", err)
	}
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			const files, perFile = 2, 3000
			topic := newTopic(t, 2)
			dir := t.TempDir()
			w := newWriter(t, dir, files, 200)
			for i := range files {
				w.Write(t, i, perFile)
			}
			a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
			a.setKafkaYAML("compression: " + codec + "\n")
			a.start()
			waitShipped(t, topic, w.Total(), 2*time.Minute)
			retried, err := a.Metric("logship_records_retried_total")
			if err != nil {
				t.Fatal(err)
			}
			a.term(30 * time.Second)

			msgs := kcatReadAll(t, kcat, cluster.Bootstrap(), topic)
			tl := tallyOf(msgs)
			missing, dups, first := tl.check(w.Written())
			batches, wrong := segmentCodecs(t, cluster.Node(0).Dir, topic, codecIDs[codec])
			t.Logf("%s: %d lines written, kcat read %d records: missing %d, duplicates %d, malformed %d; %d batches on disk, %d with another codec",
				codec, w.Total(), len(msgs), missing, dups, tl.malformed, batches, wrong)
			if missing != 0 || tl.malformed != 0 || float64(dups) > retried {
				t.Fatalf("kcat read back: missing %d (first %s), malformed %d, duplicates %d with %.0f records re-sent",
					missing, first, tl.malformed, dups, retried)
			}
			for _, m := range msgs {
				file, err := strconv.Atoi(string(bytes.SplitN(m.Value, []byte(" "), 2)[0]))
				if err != nil || string(m.Key) != w.Paths()[file] {
					t.Fatalf("kcat read key %q for value %.40q, want the source path", m.Key, m.Value)
				}
			}
			if batches == 0 || wrong != 0 {
				t.Fatalf("%d of %d stored batches do not use %s", wrong, batches, codec)
			}
		})
	}
}

// kcatReadAll consumes topic from the beginning to the end with kcat and
// returns the records.
func kcatReadAll(t *testing.T, kcat, bootstrap, topic string) []kafkatest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-J",
		"-X", "check.crcs=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.Bytes())
	}
	var msgs []kafkatest.Message
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m struct {
			Partition int     `json:"partition"`
			Offset    int64   `json:"offset"`
			Key       *string `json:"key"`
			Payload   *string `json:"payload"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("kcat output line %q: %v", sc.Text(), err)
		}
		msg := kafkatest.Message{Partition: m.Partition, Offset: m.Offset}
		if m.Key != nil {
			msg.Key = []byte(*m.Key)
		}
		if m.Payload != nil {
			msg.Value = []byte(*m.Payload)
		}
		msgs = append(msgs, msg)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// segmentCodecs walks every record batch in the log segments of topic under
// the node directory and counts the batches and those whose codec is not
// want. Layout of a v2 batch: baseOffset int64, batchLength int32 (bytes
// that follow), partitionLeaderEpoch int32, magic int8, crc uint32,
// attributes int16, ...
func segmentCodecs(t *testing.T, nodeDir, topic string, want int16) (batches, wrong int) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(nodeDir, "data", topic+"-*", "*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no log segments for %s under %s: %v", topic, nodeDir, err)
	}
	for _, seg := range segs {
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		for pos := 0; pos+23 <= len(b); {
			length := int(binary.BigEndian.Uint32(b[pos+8:]))
			if length == 0 {
				break // preallocated tail
			}
			if magic := b[pos+16]; magic != 2 {
				t.Fatalf("%s at %d: magic %d, want 2", seg, pos, magic)
			}
			attrs := int16(binary.BigEndian.Uint16(b[pos+21:]))
			batches++
			if attrs&7 != want {
				wrong++
			}
			pos += 12 + length
		}
	}
	return batches, wrong
}
