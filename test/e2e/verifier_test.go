package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// plant produces records to one partition of topic with kcat, as a writer
// the agent knows nothing of: one record per line.
func plant(t *testing.T, topic string, partition int, lines ...string) {
	t.Helper()
	kcatProduce(t, strings.Join(lines, "\n")+"\n", "-t", topic, "-p", strconv.Itoa(partition))
}

// plantNull produces one record with key "k" and a null value.
func plantNull(t *testing.T, topic string, partition int) {
	t.Helper()
	kcatProduce(t, "k:\n", "-K:", "-t", topic, "-p", strconv.Itoa(partition))
}

func kcatProduce(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command("kcat", append([]string{"-P", "-Z", "-b", cluster.Bootstrap()}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v: %s", err, out)
	}
}

// TestVerifierFailsOnPhantomAndMalformed: the verifier that every e2e test
// relies on passes a clean run, then fails once a record no writer wrote
// (a phantom) is planted next to the agent's records, and counts records
// that are not a writer's line (corrupted payload, non-canonical numbers,
// null value) as malformed.
func TestVerifierFailsOnPhantomAndMalformed(t *testing.T) {
	t.Parallel()
	const files, lines = 3, 200
	topic := newTopic(t, 2)
	dir := t.TempDir()
	w := newWriter(t, dir, files, 20)
	for i := range files {
		w.Write(t, i, lines)
	}
	a := newAgent(t, agentConfig{Brokers: cluster.Bootstrap(), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.start()
	waitShipped(t, topic, files*lines, time.Minute)
	a.term(30 * time.Second)

	tl := readTally(t, topic)
	if missing, dups, first := tl.check(w.Written()); missing != 0 || dups != 0 || tl.malformed != 0 {
		t.Fatalf("clean run: missing %d (first %s), duplicates %d, malformed %d (first %s)",
			missing, first, dups, tl.malformed, tl.firstMalformed)
	}

	payload := strings.Repeat("x", 20)
	plant(t, topic, 1, "1 "+strconv.Itoa(lines)+" "+payload) // one past file 1's last line
	tl = readTally(t, topic)
	missing, dups, first := tl.check(w.Written())
	if missing != 1 || first != "phantom record file 1 seq 200 (never written)" {
		t.Errorf("after planting a phantom: missing %d (first %q), want the phantom reported", missing, first)
	}
	if tl.messages != files*lines+1 || dups != 0 || tl.malformed != 0 {
		t.Errorf("after planting a phantom: %d records, %d duplicates, %d malformed", tl.messages, dups, tl.malformed)
	}

	plant(t, topic, 0, "7 0 "+payload) // a file no writer has
	if missing, _, _ := readTally(t, topic).check(w.Written()); missing != 2 {
		t.Errorf("after planting a record of an unknown file: missing %d, want 2", missing)
	}

	malformed := []string{
		"0 5 " + payload[:10] + "Y" + payload[11:], // corrupted payload
		"01 5 " + payload,                          // non-canonical file number
		"0 -5 " + payload,                          // negative sequence
		"0",                                        // no sequence
		"0 5 x\x00x",                               // a NUL in the payload
	}
	plant(t, topic, 0, malformed...)
	plantNull(t, topic, 0)
	tl = readTally(t, topic)
	if tl.malformed != len(malformed)+1 {
		t.Errorf("malformed %d, want %d (first %s)", tl.malformed, len(malformed)+1, tl.firstMalformed)
	}
	if !strings.Contains(tl.firstMalformed, "partition 0") {
		t.Errorf("first malformed record not located: %s", tl.firstMalformed)
	}
	if _, dups, _ := tl.check(w.Written()); dups != 0 {
		t.Errorf("malformed records counted as duplicates: %d", dups)
	}
	var null, nul int
	for _, m := range readAllMessages(t, topic) {
		switch {
		case m.Value == nil:
			null++
		case bytes.Equal(m.Value, []byte("0 5 x\x00x")):
			nul++
		}
	}
	if null != 1 || nul != 1 {
		t.Errorf("read back %d null values and %d exact copies of the record with a NUL, want 1 and 1", null, nul)
	}
}
