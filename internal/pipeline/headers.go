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
	// HeaderSource identifies the file generation the line was read from,
	// unique per host and per content of an inode:
	//
	//	<agent id>:<device>:<inode>:<generation>
	//
	// agent id is the 32 hex digits of the agent's random 128-bit id, kept
	// in data_dir/agent-id (agentid.Load) and the same across restarts;
	// device and inode are decimal; generation is tailer.Source.Generation,
	// 32 hex digits hashed from the file's first line, which differ after
	// a truncation or an inode reuse. Example:
	// "9f86d081884c7d659a2feaa0c55ad015:2049:1311:2c26b46b68ffc68ff99b453c1d304134".
	// A line shipped again (after a crash, an ambiguous retry, a hard stop
	// or a reload that timed out) carries the same value and offset.
	HeaderSource = "logship.source"
	// HeaderOffset is the decimal file offset just past the line. With
	// HeaderSource (and the host, from the key or envelope) it identifies a
	// line, so a consumer can drop the duplicates at-least-once delivery
	// produces after a crash or an ambiguous retry.
	HeaderOffset = "logship.offset"
)

// headerSet builds the headers of a pipeline's records: its static headers
// (sorted by key), then HeaderSource and HeaderOffset unless turned off.
// The two source headers cost about 130 bytes per record before
// compression (their repeated names and source values compress well within
// a batch).
type headerSet struct {
	static  []kafka.Header
	source  bool
	agentID string
}

func newHeaderSet(static map[string]string, source bool, agentID string) headerSet {
	keys := make([]string, 0, len(static))
	for k := range static {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hs := headerSet{source: source, agentID: agentID}
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
		source = make([]byte, 0, len(hs.agentID)+len(src.Generation)+43)
		source = append(source, hs.agentID...)
		source = append(source, ':')
		source = strconv.AppendUint(source, src.Device, 10)
		source = append(source, ':')
		source = strconv.AppendUint(source, src.Inode, 10)
		source = append(source, ':')
		source = append(source, src.Generation...)
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
