package pipeline

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

// wantJSONText is what a JSON decoder must read back for s after the
// encoder's promise: valid UTF-8 kept, every byte that does not start a
// valid sequence replaced by one U+FFFD. It reports whether anything was
// replaced.
func wantJSONText(s []byte) (string, bool) {
	var b []byte
	altered := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
			altered = true
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b), altered
}

// FuzzSerializeJSON checks the hand-written JSON encoder (it reads strings
// through unsafe) against encoding/json: whatever bytes go in, the output
// is valid JSON, appended after dst's bytes without touching them, and
// decodes back to the same event with invalid UTF-8 replaced by U+FFFD;
// altered is reported exactly when the message held invalid UTF-8.
func FuzzSerializeJSON(f *testing.F) {
	f.Add([]byte("hello"), "h", "/var/log/a.log", "", "env", "prod", "team", "a", int64(42), int64(0))
	f.Add([]byte("ok\xffok\xc3"), "h\"1", "/a\\b", "stdout", "k\x00", "v\n", "k\x00", "dup", int64(-1), int64(1<<62))
	f.Add([]byte("\u2028\u2029\x1f\x7f\"\\\t\r\n"), "\xed\xa0\x80", "\xef\xbf\xbd", "stderr", "", "", "x", "\xf4\x90\x80\x80", int64(0), int64(-1<<62))
	f.Add([]byte{}, "", "", "", "", "", "", "", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, msg []byte, host, source, stream, k1, v1, k2, v2 string, offset, nanos int64) {
		ser, err := NewSerializer("json")
		if err != nil {
			t.Fatal(err)
		}
		ts := time.Unix(0, nanos)
		ev := &Event{Message: bytes.Clone(msg), Time: ts, Host: host, Source: source, Offset: offset, Stream: stream}
		if k1 != "" || v1 != "" || k2 != "" || v2 != "" {
			ev.Fields = []Field{{k1, v1}, {k2, v2}}
		}
		prefix := []byte("prefix")
		out, altered := ser(bytes.Clone(prefix), ev)
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("serializer overwrote dst: %q", out)
		}
		if !bytes.Equal(ev.Message, msg) {
			t.Fatalf("serializer modified the message: %q -> %q", msg, ev.Message)
		}
		body := out[len(prefix):]
		if !json.Valid(body) {
			t.Fatalf("invalid JSON: %q", body)
		}
		var got struct {
			TS      string            `json:"ts"`
			Host    string            `json:"host"`
			Source  string            `json:"source"`
			Offset  int64             `json:"offset"`
			Message string            `json:"message"`
			Stream  *string           `json:"stream"`
			Fields  map[string]string `json:"fields"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("unmarshal %q: %v", body, err)
		}
		wantMsg, wantAltered := wantJSONText(msg)
		if got.Message != wantMsg {
			t.Fatalf("message = %q, want %q", got.Message, wantMsg)
		}
		if altered != wantAltered {
			t.Fatalf("altered = %v, want %v for %q", altered, wantAltered, msg)
		}
		text := func(s string) string { w, _ := wantJSONText([]byte(s)); return w }
		if got.Host != text(host) || got.Source != text(source) || got.Offset != offset {
			t.Fatalf("host/source/offset = %q/%q/%d, want %q/%q/%d", got.Host, got.Source, got.Offset,
				text(host), text(source), offset)
		}
		if wantTS := ts.UTC().Format(time.RFC3339Nano); got.TS != wantTS {
			t.Fatalf("ts = %q, want %q", got.TS, wantTS)
		}
		switch {
		case stream == "" && got.Stream != nil:
			t.Fatalf("empty stream written as %q", *got.Stream)
		case stream != "" && (got.Stream == nil || *got.Stream != text(stream)):
			t.Fatalf("stream = %v, want %q", got.Stream, text(stream))
		}
		if ev.Fields == nil {
			if got.Fields != nil {
				t.Fatalf("fields written without any: %v", got.Fields)
			}
			return
		}
		// Duplicate keys: a JSON decoder keeps the last one.
		want := map[string]string{text(k1): text(v1)}
		want[text(k2)] = text(v2)
		if len(got.Fields) != len(want) {
			t.Fatalf("fields = %q, want %q", got.Fields, want)
		}
		for k, v := range want {
			if got.Fields[k] != v {
				t.Fatalf("fields = %q, want %q", got.Fields, want)
			}
		}
	})
}
