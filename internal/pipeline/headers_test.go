package pipeline

import (
	"strings"
	"testing"

	"github.com/logship/logship/internal/producer"
	"github.com/logship/logship/internal/tailer"
)

// TestHeaderSet: static headers sorted, then source identity and offset.
func TestHeaderSet(t *testing.T) {
	src := &tailer.Source{Pipeline: "p", Path: "/var/log/a.log", Device: 2049, Inode: 131}
	lines := []tailer.Line{{Data: []byte("a"), End: 2}, {Data: []byte("bb"), End: 12345678901}}
	for _, tc := range []struct {
		name   string
		static map[string]string
		source bool
		want   [][]string
	}{
		{"default", nil, true, [][]string{
			{"logship.source", "2049:131", "logship.offset", "2"},
			{"logship.source", "2049:131", "logship.offset", "12345678901"}}},
		{"static and source", map[string]string{"team": "a", "env": "prod"}, true, [][]string{
			{"env", "prod", "team", "a", "logship.source", "2049:131", "logship.offset", "2"},
			{"env", "prod", "team", "a", "logship.source", "2049:131", "logship.offset", "12345678901"}}},
		{"static only", map[string]string{"env": "prod"}, false, [][]string{{"env", "prod"}, {"env", "prod"}}},
		{"none", nil, false, [][]string{nil, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := make([]producer.Record, len(lines))
			newHeaderSet(tc.static, tc.source).fill(recs, src, func(i int) int64 { return lines[i].End })
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
