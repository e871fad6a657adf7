package main

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/logship/logship/internal/config"
)

// TestPipelineOptionsCarryEverySetting: every setting of config.Pipeline
// reaches some component through the mappings of options.go, with its
// value; a setting added to the configuration but not mapped fails here.
func TestPipelineOptionsCarryEverySetting(t *testing.T) {
	t.Parallel()
	pc := config.Pipeline{
		Name: "p", Paths: []string{"/a/*.log"}, Exclude: []string{"*.gz"}, SymlinkRoots: []string{"/r"},
		StartAt: config.StartEnd, Format: config.FormatCRI,
		Multiline:    config.Multiline{StartPattern: "^x", MaxLines: 7, Timeout: 3 * time.Second},
		MaxLineBytes: 4096, OversizePolicy: config.OversizeTruncate, ForgetAfter: time.Hour, MaxOpenFiles: 9,
		Topic: "t", Key: config.KeySource, Partitioner: config.PartitionerFixed, Partition: 2,
		Serializer: config.SerializerJSON, Fields: map[string]string{"f": "v"}, RescanInterval: time.Minute,
		CloseInactive: 2 * time.Minute, Headers: map[string]string{"h": "v"}, SourceHeaders: true,
	}
	renamed := map[string]string{"Oversize": "OversizePolicy"} // option field → config field
	src := reflect.ValueOf(pc)
	used := map[string]bool{}
	for _, opts := range []any{tailerSettings(pc), decodeOptions(pc), pipelineOptions(pc)} {
		v := reflect.ValueOf(opts)
		for i := range v.NumField() {
			name := v.Type().Field(i).Name
			cname := name
			if r, ok := renamed[name]; ok {
				cname = r
			}
			want := src.FieldByName(cname)
			if !want.IsValid() {
				continue // not a configuration setting (sink, logger, ...)
			}
			used[cname] = true
			got, w := fmt.Sprint(v.Field(i).Interface()), fmt.Sprint(want.Interface())
			if want.CanInt() && v.Field(i).CanInt() { // a config.ByteSize as an int
				got, w = fmt.Sprint(v.Field(i).Int()), fmt.Sprint(want.Int())
			}
			if got != w {
				t.Errorf("%T.%s = %s, want %s (pipelines[].%s)", opts, name, got, w, cname)
			}
		}
	}
	for i := range src.NumField() {
		if name := src.Type().Field(i).Name; !used[name] {
			t.Errorf("config.Pipeline.%s reaches no component's options", name)
		}
	}
}
