package pipeline

import (
	"sort"
	"strconv"

	"github.com/logship/logship/internal/producer"
	"github.com/logship/logship/internal/tailer"
	"github.com/segmentio/kafka-go"
)

// Header names of the source identity headers.
const (
	// HeaderSource is "<device>:<inode>" of the file the line was read from.
	HeaderSource = "logship.source"
	// HeaderOffset is the decimal file offset just past the line. With
	// HeaderSource (and the host, from the key or envelope) it identifies a
	// line, so a consumer can drop the duplicates at-least-once delivery
	// produces after a crash or an ambiguous retry.
	HeaderOffset = "logship.offset"
)

// headerSet builds the headers of a pipeline's records: its static headers
// (sorted by key), then HeaderSource and HeaderOffset unless turned off.
// The two source headers cost about 50 bytes per record before compression
// (their repeated names compress well within a batch).
type headerSet struct {
	static []kafka.Header
	source bool
}

func newHeaderSet(static map[string]string, source bool) headerSet {
	keys := make([]string, 0, len(static))
	for k := range static {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hs := headerSet{source: source}
	for _, k := range keys {
		hs.static = append(hs.static, kafka.Header{Key: k, Value: []byte(static[k])})
	}
	return hs
}

// fill sets the headers of recs; end(i) is the file offset just past the
// line (or joined event) recs[i] was built from. All headers of
// the call share two allocations; static header values are shared with
// every record and must not be modified (the oversize policies copy before
// adding a header).
func (hs headerSet) fill(recs []producer.Record, src *tailer.Source, end func(i int) int64) {
	per := len(hs.static)
	if hs.source {
		per += 2
	}
	if per == 0 {
		return
	}
	all := make([]kafka.Header, 0, per*len(recs))
	var source, offsets []byte
	if hs.source {
		source = strconv.AppendUint(nil, src.Device, 10)
		source = append(source, ':')
		source = strconv.AppendUint(source, src.Inode, 10)
		offsets = make([]byte, 0, 12*len(recs))
	}
	for i := range recs {
		start := len(all)
		all = append(all, hs.static...)
		if hs.source {
			o := len(offsets)
			offsets = strconv.AppendInt(offsets, end(i), 10)
			all = append(all,
				kafka.Header{Key: HeaderSource, Value: source},
				kafka.Header{Key: HeaderOffset, Value: offsets[o:len(offsets):len(offsets)]})
		}
		recs[i].Headers = all[start:len(all):len(all)]
	}
}
