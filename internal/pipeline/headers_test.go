package pipeline

import (
	"strings"
	"testing"

	"github.com/logship/logship/internal/producer"
	"github.com/logship/logship/internal/tailer"
)

const testAgentID = "0123456789abcdef0123456789abcdef"

// TestHeaderSet: static headers sorted, then source identity and offset.
func TestHeaderSet(t *testing.T) {
	src := &tailer.Source{Pipeline: "p", Path: "/var/log/a.log", Device: 2049, Inode: 131, Generation: "fedcba9876543210fedcba9876543210"}
	const wantSource = testAgentID + ":2049:131:fedcba9876543210fedcba9876543210"
	lines := []tailer.Line{{Data: []byte("a"), End: 2}, {Data: []byte("bb"), End: 12345678901}}
	for _, tc := range []struct {
		name   string
		static map[string]string
		source bool
		want   [][]string
	}{
		{"default", nil, true, [][]string{
			{"logship.source", wantSource, "logship.offset", "2"},
			{"logship.source", wantSource, "logship.offset", "12345678901"}}},
		{"static and source", map[string]string{"team": "a", "env": "prod"}, true, [][]string{
			{"env", "prod", "team", "a", "logship.source", wantSource, "logship.offset", "2"},
			{"env", "prod", "team", "a", "logship.source", wantSource, "logship.offset", "12345678901"}}},
		{"static only", map[string]string{"env": "prod"}, false, [][]string{{"env", "prod"}, {"env", "prod"}}},
		{"none", nil, false, [][]string{nil, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := make([]producer.Record, len(lines))
			newHeaderSet(tc.static, tc.source, testAgentID).fill(recs, src, func(i int) int64 { return lines[i].End })
			for i, r := range recs {
				var got []string
				for _, h := range r.Headers {
					got = append(got, h.Key, string(h.Value))
				}
				if strings.Join(got, ",") != strings.Join(tc.want[i], ",") {
					t.Fatalf("record %d headers %q, want %q", i, got, tc.want[i])
				}
			}
		})
	}
}

// TestSourceHeaderUniquePerHostAndGeneration: logship.source tells apart
// two generations of one inode (inode reuse, truncation) and the same
// device and inode on two hosts; it is the same for every line of one
// generation.
func TestSourceHeaderUniquePerHostAndGeneration(t *testing.T) {
	source := func(agentID string, src *tailer.Source) string {
		recs := make([]producer.Record, 1)
		newHeaderSet(nil, true, agentID).fill(recs, src, func(int) int64 { return 10 })
		for _, h := range recs[0].Headers {
			if h.Key == HeaderSource {
				return string(h.Value)
			}
		}
		t.Fatal("no source header")
		return ""
	}
	gen1 := &tailer.Source{Device: 2049, Inode: 131, Generation: "11111111111111111111111111111111"}
	gen2 := &tailer.Source{Device: 2049, Inode: 131, Generation: "22222222222222222222222222222222"}
	hostA, hostB := testAgentID, "fedcba9876543210fedcba9876543210"
	seen := map[string]string{}
	for name, v := range map[string]string{
		"host A gen 1": source(hostA, gen1), "host A gen 2": source(hostA, gen2),
		"host B gen 1": source(hostB, gen1), "host B gen 2": source(hostB, gen2),
	} {
		if other, dup := seen[v]; dup {
			t.Fatalf("%s and %s share logship.source %q", name, other, v)
		}
		seen[v] = name
	}
	if a, b := source(hostA, gen1), source(hostA, &tailer.Source{Device: 2049, Inode: 131, Generation: gen1.Generation, Path: "/moved"}); a != b {
		t.Fatalf("one generation got two source values %q and %q", a, b)
	}
}
