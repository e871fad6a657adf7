package pipeline

import (
	"encoding/json"
	"testing"
	"time"
)

func TestJSONEnvelope(t *testing.T) {
	t.Parallel()
	ser, err := NewSerializer("json")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 26, 20, 0, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		name    string
		msg     string
		want    string
		altered bool
	}{
		{"plain", "hello world", "hello world", false},
		{"quotes and escapes", `a "quoted" \ back` + "\t\r", `a "quoted" \ back` + "\t\r", false},
		{"nul and control", "a\x00b\x01c\x1f", "a\x00b\x01c\x1f", false},
		{"unicode", "héllo – 世界 \u2028", "héllo – 世界 \u2028", false},
		{"invalid utf8", "ok\xffok\xc3", "ok\ufffdok\ufffd", true},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &Event{Message: []byte(tc.msg), Time: ts, Host: "h\"1", Source: "/var/log/a.log", Offset: 42,
				Fields: []Field{{"env", "prod"}, {"team", "a\nb"}}}
			out, altered := ser([]byte("prefix"), ev)
			if string(out[:6]) != "prefix" {
				t.Fatal("serializer overwrote dst")
			}
			if altered != tc.altered {
				t.Fatalf("altered = %v, want %v", altered, tc.altered)
			}
			var got struct {
				TS      string            `json:"ts"`
				Host    string            `json:"host"`
				Source  string            `json:"source"`
				Offset  int64             `json:"offset"`
				Message string            `json:"message"`
				Fields  map[string]string `json:"fields"`
			}
			if err := json.Unmarshal(out[6:], &got); err != nil {
				t.Fatalf("invalid JSON %q: %v", out[6:], err)
			}
			if got.Message != tc.want || got.Host != "h\"1" || got.Source != "/var/log/a.log" || got.Offset != 42 ||
				got.TS != "2026-11-26T20:00:00.123456789Z" || got.Fields["env"] != "prod" || got.Fields["team"] != "a\nb" {
				t.Fatalf("round trip mismatch: %+v", got)
			}
		})
	}
}

func TestRawSerializerVerbatim(t *testing.T) {
	t.Parallel()
	ser, _ := NewSerializer("raw")
	msg := []byte("bin\x00\xff\xfe line")
	out, altered := ser(nil, &Event{Message: msg})
	if string(out) != string(msg) || altered {
		t.Fatalf("raw changed the bytes: %q", out)
	}
}

func BenchmarkSerializeJSON(b *testing.B) {
	ser, _ := NewSerializer("json")
	ev := &Event{Message: []byte(`2026-11-26T20:00:00Z INFO request served path=/api/v1/items status=200 duration=12ms user="alice"`),
		Time: time.Now(), Host: "host-1", Source: "/var/log/app/app.log", Offset: 123456, Fields: []Field{{"env", "prod"}}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(ev.Message)))
	for b.Loop() {
		buf, _ = ser(buf[:0], ev)
	}
}

func TestJSONEnvelopeStream(t *testing.T) {
	t.Parallel()
	ser, _ := NewSerializer("json")
	for _, tc := range []struct{ stream, want string }{{"stderr", "stderr"}, {"", ""}} {
		out, _ := ser(nil, &Event{Message: []byte("m"), Stream: tc.stream})
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", out, err)
		}
		s, present := got["stream"]
		if present != (tc.want != "") || (present && s != tc.want) {
			t.Fatalf("stream %q: envelope %s", tc.stream, out)
		}
	}
}
