package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// fakeBroker stands in for Client.RawProduce: it decodes each request's
// record batch with kafka-go's reader (CRC-32C checked), stores what it
// accepts (one log for all partitions), rejects batches over limit bytes as
// MESSAGE_TOO_LARGE (sizes estimated like Record.size, as the producer's
// chunking does), and first answers with the errors queued in fail (a nil
// entry accepts the request).
type fakeBroker struct {
	mu    sync.Mutex
	limit int
	fail  []error
	calls int
	log   []kafka.Record
	bytes []int // estimated batch size of every accepted request
}

func (f *fakeBroker) produce(_ context.Context, req *kafka.RawProduceRequest) (*kafka.ProduceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	recs, size, err := decodeRecordSet(req.RawRecords.Reader)
	if err != nil {
		return nil, err
	}
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		if err != nil {
			return &kafka.ProduceResponse{Error: err}, nil
		}
	}
	if f.limit > 0 && size > f.limit {
		return &kafka.ProduceResponse{Error: kafka.MessageSizeTooLarge}, nil
	}
	base := int64(len(f.log))
	f.log = append(f.log, recs...)
	f.bytes = append(f.bytes, size)
	return &kafka.ProduceResponse{BaseOffset: base}, nil
}

// decodeRecordSet reads a raw record set with kafka-go's decoder, which
// checks the CRC-32C and decompresses, into records that own their bytes,
// and estimates its size as Record.size does.
func decodeRecordSet(r io.Reader) ([]kafka.Record, int, error) {
	var rs protocol.RecordSet
	if _, err := rs.ReadFrom(r); err != nil {
		return nil, 0, fmt.Errorf("fake broker: corrupt record set: %w", err)
	}
	if rs.Version != 2 || rs.Records == nil {
		return nil, 0, fmt.Errorf("fake broker: record set version %d without records", rs.Version)
	}
	var recs []kafka.Record
	size := batchOverhead
	for {
		r, err := rs.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return recs, size, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("fake broker: record %d: %w", len(recs), err)
		}
		k, v := readAll(r.Key), readAll(r.Value)
		rec := kafka.Record{Time: r.Time, Headers: slices.Clone(r.Headers)}
		if r.Key != nil {
			rec.Key = kafka.NewBytes(k)
		}
		if r.Value != nil {
			rec.Value = kafka.NewBytes(v)
		}
		size += recordOverhead + len(k) + len(v)
		for _, h := range r.Headers {
			size += len(h.Key) + len(h.Value) + 8
		}
		recs = append(recs, rec)
	}
}

func readAll(b kafka.Bytes) []byte {
	if b == nil {
		return nil
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(b)
	return buf.Bytes()
}

func header(r kafka.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// newTestProducer builds a Producer whose requests go to fb. Its broker
// address refuses connections, so DescribeConfigs fails and limits are
// learned by halving.
func newTestProducer(t *testing.T, fb *fakeBroker, opts Options) (*Producer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Brokers = []string{"127.0.0.1:1"}
	opts.Acks = kafka.RequireAll
	opts.Registerer = reg
	opts.RetryBackoff = time.Millisecond
	opts.RetryBackoffMax = 5 * time.Millisecond
	opts.RequestTimeout = 2 * time.Second
	opts.Linger = time.Millisecond
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	p.produceFn = fb.produce
	runProducer(t, p)
	return p, reg
}

// runProducer runs p.Run until the test ends (after the test's own Close).
func runProducer(t *testing.T, p *Producer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Exits when the test's cleanup cancels ctx.
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// trackedRecords registers one record per value on a tracker and returns them with their Acks.
func trackedRecords(tr *checkpoint.Tracker, values ...[]byte) []Record {
	recs := make([]Record, len(values))
	end := int64(0)
	for i, v := range values {
		end += int64(len(v) + 1)
		recs[i] = Record{Key: []byte("k"), Value: v, Time: time.Now(), Ack: tr.Add(end, int64(len(v)))}
	}
	return recs
}

func closeProducer(t *testing.T, p *Producer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if left := p.Close(ctx); left != 0 {
		t.Fatalf("%d records left unacknowledged", left)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() != labels[i+1] {
						continue metrics
					}
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + (seed+byte(i*7))%26
	}
	return b
}

// TestOversizeSplit: with a broker limit of 1024 bytes, records of 512 B go
// through whole, records of 10 KiB arrive as consecutive parts under the
// limit, with "i/n" headers and the original headers, that concatenate to
// the original value; every Ack is resolved once, after its last part.
func TestOversizeSplit(t *testing.T) {
	t.Parallel()
	fb := &fakeBroker{limit: 1024}
	p, reg := newTestProducer(t, fb, Options{Oversize: OversizeSplit})
	tr := checkpoint.NewTracker(0, nil)
	small, big1, big2 := payload(512, 1), payload(10<<10, 2), payload(3000, 3)
	recs := trackedRecords(tr, small, big1, small, big2)
	for i := range recs {
		recs[i].Headers = []kafka.Header{{Key: "logship.offset", Value: []byte(strconv.Itoa(i))}}
	}
	if err := p.Append("t", 0, recs); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	if tr.Pending() != 0 || tr.Committed() != int64(len(small)*2+len(big1)+len(big2)+4) {
		t.Fatalf("pending %d, committed %d", tr.Pending(), tr.Committed())
	}
	// Reassemble from the log: whole records, and runs of parts 1/n..n/n.
	var got [][]byte
	var cur []byte
	for i, r := range fb.log {
		v := readAll(r.Value)
		part, ok := header(r, HeaderPart)
		if _, hasOff := header(r, "logship.offset"); !hasOff {
			t.Fatalf("record %d lost its original header", i)
		}
		if !ok {
			got = append(got, v)
			continue
		}
		idx, n, _ := strings.Cut(part, "/")
		if idx == "1" {
			cur = nil
		}
		cur = append(cur, v...)
		if idx == n {
			got = append(got, cur)
		}
	}
	want := [][]byte{small, big1, small, big2}
	if len(got) != len(want) {
		t.Fatalf("reassembled %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: reassembled %d bytes differ from the original %d", i, len(got[i]), len(want[i]))
		}
	}
	for i, b := range fb.bytes {
		if b > 1024 {
			t.Fatalf("accepted batch %d of %d bytes over the limit", i, b)
		}
	}
	if s := counter(t, reg, "logship_records_split_total"); s != 2 {
		t.Fatalf("split_total %v, want 2", s)
	}
	if a := counter(t, reg, "logship_records_acked_total"); a != 4 {
		t.Fatalf("acked_total %v, want 4", a)
	}
	if d := counter(t, reg, "logship_records_dropped_total"); d != 0 {
		t.Fatalf("dropped_total %v, want 0", d)
	}
	t.Logf("split: %d records in the log for 4 lines, %d produce calls, learned limit %d bytes, %v parts",
		len(fb.log), fb.calls, p.limit("t").bytes, counter(t, reg, "logship_record_parts_total"))
}

// TestOversizeTruncate: an oversize record arrives cut under the limit with
// logship.truncated = its original length; counted, acked once.
func TestOversizeTruncate(t *testing.T) {
	t.Parallel()
	fb := &fakeBroker{limit: 1024}
	p, reg := newTestProducer(t, fb, Options{Oversize: OversizeTruncate})
	tr := checkpoint.NewTracker(0, nil)
	small, big := payload(300, 1), payload(5000, 2)
	if err := p.Append("t", 0, trackedRecords(tr, small, big, small)); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	if tr.Pending() != 0 {
		t.Fatalf("%d records pending", tr.Pending())
	}
	if len(fb.log) != 3 {
		t.Fatalf("log holds %d records, want 3", len(fb.log))
	}
	v := readAll(fb.log[1].Value)
	orig, ok := header(fb.log[1], HeaderTruncated)
	if !ok || orig != "5000" || !bytes.HasPrefix(big, v) || len(v) >= len(big) || len(v) == 0 {
		t.Fatalf("truncated record: header %q (%v), %d bytes, prefix of original %v", orig, ok, len(v), bytes.HasPrefix(big, v))
	}
	if _, ok := header(fb.log[0], HeaderTruncated); ok {
		t.Fatal("a record that fits was marked truncated")
	}
	if n := counter(t, reg, "logship_records_truncated_total"); n != 1 {
		t.Fatalf("truncated_total %v, want 1", n)
	}
	t.Logf("truncate: 5000 B kept %d B under a 1024 B limit", len(v))
}

// TestOversizeDeadLetter: an oversize record goes to the dead-letter file
// (0600, JSON with base64 value) and not to Kafka; once the file is full
// the next one is truncated instead, and both paths are counted.
func TestOversizeDeadLetter(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dl")
	fb := &fakeBroker{limit: 1024}
	p, reg := newTestProducer(t, fb, Options{Oversize: OversizeDeadLetter, DeadLetterDir: dir, DeadLetterMaxBytes: 12 << 10})
	tr := checkpoint.NewTracker(0, nil)
	big1, big2 := payload(5000, 1), payload(6000, 2)
	if err := p.Append("t", 2, trackedRecords(tr, payload(100, 0), big1, big2)); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	if tr.Pending() != 0 {
		t.Fatalf("%d records pending", tr.Pending())
	}
	path := filepath.Join(dir, DeadLetterFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("dead-letter file mode %v, want 0600", st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("dead-letter file holds %d entries, want 1 (the second does not fit the cap)", len(lines))
	}
	var e DeadLetterEntry
	if err := json.Unmarshal(lines[0], &e); err != nil {
		t.Fatal(err)
	}
	if e.Topic != "t" || e.Partition != 2 || e.Reason != "too_large" || !bytes.Equal(e.Value, big1) || string(e.Key) != "k" {
		t.Fatalf("entry %+v", e)
	}
	if len(fb.log) != 2 {
		t.Fatalf("Kafka holds %d records, want 2 (the small one and the truncated fallback)", len(fb.log))
	}
	if orig, _ := header(fb.log[1], HeaderTruncated); orig != "6000" {
		t.Fatalf("fallback record not truncated: header %q", orig)
	}
	if n := counter(t, reg, "logship_dead_letter_records_total"); n != 1 {
		t.Fatalf("dead_letter_records_total %v, want 1", n)
	}
	if n := counter(t, reg, "logship_dead_letter_errors_total", "reason", "full"); n != 1 {
		t.Fatalf("dead_letter_errors_total{full} %v, want 1", n)
	}
	if n := counter(t, reg, "logship_records_truncated_total"); n != 1 {
		t.Fatalf("truncated_total %v, want 1", n)
	}
	t.Logf("dead_letter: 1 entry (%d B file), 1 truncated after the cap", len(data))
}

// TestRetriableErrorsKeepAcks: leader errors force a metadata refresh and
// are retried; below min ISR the batch is retried without a refresh; in
// neither case is an Ack resolved before the broker stored the records.
func TestRetriableErrorsKeepAcks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		errs        []error
		refreshes   float64
		resent      int // failures after which the records may be stored
		minDuration time.Duration
	}{
		// A leader that loses leadership while holding an appended request
		// for acks=all answers NOT_LEADER: the records may be stored.
		{"not-leader", []error{kafka.NotLeaderForPartition}, 1, 1, 0},
		// The second refresh waits for minRefreshInterval after the first.
		{"leader-epoch", []error{kafka.FencedLeaderEpoch, kafka.UnknownLeaderEpoch}, 2, 2, minRefreshInterval},
		{"no-leader", []error{kafka.LeaderNotAvailable}, 1, 0, 0},
		{"below-min-isr", []error{kafka.NotEnoughReplicas, kafka.NotEnoughReplicasAfterAppend, kafka.NotEnoughReplicas}, 0, 1, 0},
		{"request-timed-out", []error{kafka.RequestTimedOut}, 0, 1, 0},
		{"network", []error{&netErr{}}, 1, 1, 0},
		{"dial", []error{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := &fakeBroker{fail: tc.errs}
			var acksBeforeStored int
			tr := checkpoint.NewTracker(0, nil)
			p, reg := newTestProducer(t, fb, Options{Delivered: func(*Record, RecordMetadata) {
				fb.mu.Lock()
				if len(fb.log) == 0 {
					acksBeforeStored++
				}
				fb.mu.Unlock()
			}})
			start := time.Now()
			if err := p.Append("t", 0, trackedRecords(tr, payload(10, 0), payload(20, 1))); err != nil {
				t.Fatal(err)
			}
			closeProducer(t, p)
			took := time.Since(start)
			if acksBeforeStored != 0 || len(fb.log) != 2 || tr.Pending() != 0 {
				t.Fatalf("acks before stored %d, log %d, pending %d", acksBeforeStored, len(fb.log), tr.Pending())
			}
			if n := counter(t, reg, "logship_metadata_refreshes_total"); n != tc.refreshes {
				t.Fatalf("metadata refreshes %v, want %v", n, tc.refreshes)
			}
			if n := counter(t, reg, "logship_records_retried_total"); n != float64(2*tc.resent) {
				t.Fatalf("retried %v, want %d", n, 2*tc.resent)
			}
			if took < tc.minDuration {
				t.Fatalf("took %s, want at least %s (refresh rate bound)", took, tc.minDuration)
			}
			t.Logf("%s: %d failures, %v refreshes, delivered after %s", tc.name, len(tc.errs), tc.refreshes, took.Round(time.Millisecond))
		})
	}
}

type netErr struct{}

func (*netErr) Error() string   { return "connection reset" }
func (*netErr) Timeout() bool   { return false }
func (*netErr) Temporary() bool { return true }

// TestInvalidRecordDropped: the broker rejects one record of a batch as
// invalid; the batch is split, the others stored, that one dropped and
// counted.
func TestInvalidRecordDropped(t *testing.T) {
	t.Parallel()
	fb := &fakeBroker{fail: []error{kafka.InvalidRecord, nil, kafka.InvalidRecord}}
	p, reg := newTestProducer(t, fb, Options{})
	tr := checkpoint.NewTracker(0, nil)
	if err := p.Append("t", 0, trackedRecords(tr, payload(10, 0), payload(10, 1))); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	if tr.Pending() != 0 || len(fb.log) != 1 {
		t.Fatalf("pending %d, log %d", tr.Pending(), len(fb.log))
	}
	if n := counter(t, reg, "logship_records_dropped_total", "reason", "invalid"); n != 1 {
		t.Fatalf("dropped{invalid} %v, want 1", n)
	}
}

// TestWithHeaderCopies: the oversize policies add a header to a copy of a
// record's headers, whose array the pipeline shares between records.
func TestWithHeaderCopies(t *testing.T) {
	t.Parallel()
	shared := make([]kafka.Header, 0, 4)
	shared = append(shared, kafka.Header{Key: "env", Value: []byte("prod")}, kafka.Header{Key: "team", Value: []byte("a")})
	a, b := shared[:1], shared[1:2] // a has spare capacity: appending in place would overwrite b
	got := withHeader(a, HeaderPart, "1/2")
	if len(got) != 2 || got[1].Key != HeaderPart || string(got[1].Value) != "1/2" {
		t.Fatalf("withHeader = %v", got)
	}
	if b[0].Key != "team" || len(a) != 1 {
		t.Fatal("withHeader changed another record's headers")
	}
}

// TestNewProducerOversizeOptions: the dead-letter policy needs a directory;
// unknown policies are refused.
func TestNewProducerOversizeOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Oversize: OversizeDeadLetter}, "dead-letter directory"},
		{Options{Oversize: "drop"}, "unknown oversize policy"},
	} {
		tc.opts.Brokers = []string{"127.0.0.1:1"}
		tc.opts.Acks = kafka.RequireAll
		_, err := New(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("New(%q) = %v, want an error with %q", tc.opts.Oversize, err, tc.want)
		}
	}
}
