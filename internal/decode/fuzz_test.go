package decode

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/tailer"
)

// fuzzDecode feeds the lines of input (split at "\n", emitted in batches cut
// as cuts says) through a decoder, flushes what is pending, and checks the
// contract: no panic, every line's ack resolved exactly once and by exactly
// one event, the checkpoint at the end of the input, no event over
// max_line_bytes.
func fuzzDecode(t *testing.T, pc config.Pipeline, input []byte, cuts []byte) {
	r := newRig(t, pc, "/var/log/pods/ns_pod_uid/c/0.log")
	var lines []tailer.Line
	for _, l := range bytes.Split(input, []byte("\n")) {
		lines = append(lines, r.lines(string(l))...)
	}
	all := len(lines)
	for len(lines) > 0 {
		n := len(lines)
		if len(cuts) > 0 {
			n = min(int(cuts[0])%4+1, n)
			cuts = cuts[1:]
		}
		if err := r.d.Emit(context.Background(), r.src, lines[:n]); err != nil {
			t.Fatal(err)
		}
		lines = lines[n:]
	}
	r.flushAll()
	r.settled()
	covered := 0
	for _, ev := range r.sink.events() {
		if len(ev.Message) > int(pc.MaxLineBytes) {
			t.Fatalf("event of %d bytes over max_line_bytes %d", len(ev.Message), pc.MaxLineBytes)
		}
		covered += ev.Ack.Records()
		if ev.Ack.Records() == 0 {
			t.Fatal("event without lines")
		}
	}
	if covered != all {
		t.Fatalf("events cover %d lines, input has %d", covered, all)
	}
}

func fuzzPipeline(format config.Format, policy, ml byte) config.Pipeline {
	pc := config.Pipeline{Format: format, MaxLineBytes: 48, OversizePolicy: "split"}
	if policy&1 == 1 {
		pc.OversizePolicy = "truncate"
	}
	if ml&1 == 1 {
		pc.Multiline = config.Multiline{StartPattern: `^\S`, MaxLines: int(ml>>1)%5 + 1, Timeout: time.Second}
	}
	return pc
}

func FuzzCRI(f *testing.F) {
	f.Add([]byte(ts1+" stdout P ab\n"+ts1+" stdout F cd\nbad line\n"+ts1+" stderr F e"), []byte{1, 2}, byte(0), byte(0))
	f.Add([]byte(ts1+" stdout P "+string(bytes.Repeat([]byte("x"), 40))+"\n"+ts1+" stdout F yyyyyyyyyyyy"), []byte{0}, byte(1), byte(1))
	f.Add([]byte(ts1+" stdout F\n"+ts1+" stdout F:x  \n"+ts1+" stdin P"), []byte{}, byte(0), byte(3))
	f.Fuzz(func(t *testing.T, input, cuts []byte, policy, ml byte) {
		fuzzDecode(t, fuzzPipeline("cri", policy, ml), input, cuts)
	})
}

func FuzzDocker(f *testing.F) {
	f.Add([]byte(`{"log":"a","stream":"stdout","time":"`+ts1+`"}`+"\n"+`{"log":"b\n","stream":"stdout","time":"`+ts1+`"}`+"\n{bad"), []byte{1}, byte(0), byte(0))
	f.Add([]byte(`{"log":"0123456789012345678901234567890123456789","stream":"stderr","time":"`+ts1+`"}`+"\n"+`{"log":"x\r\n","stream":"stderr","time":"`+ts1+`"}`), []byte{}, byte(1), byte(1))
	f.Fuzz(func(t *testing.T, input, cuts []byte, policy, ml byte) {
		fuzzDecode(t, fuzzPipeline("docker", policy, ml), input, cuts)
	})
}

func FuzzMultiline(f *testing.F) {
	f.Add([]byte("start\n cont\n cont\nnext\n\n x"), []byte{2, 0}, byte(0), byte(1))
	f.Add([]byte("a 0123456789012345678901234567890\n 0123456789012345678901234567890\n b"), []byte{}, byte(1), byte(9))
	f.Fuzz(func(t *testing.T, input, cuts []byte, policy, ml byte) {
		fuzzDecode(t, fuzzPipeline("raw", policy, ml|1), input, cuts)
	})
}
