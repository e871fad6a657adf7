package decode

import (
	"bytes"
	"encoding/json"
	"time"
	"unsafe"
)

// parser decodes one line of a format. ok is false for a malformed record;
// partial is set when the message continues in the next line.
type parser func(line []byte) (msg []byte, ts time.Time, stream string, partial, ok bool)

const (
	stdout = "stdout"
	stderr = "stderr"
)

func parseRaw(line []byte) ([]byte, time.Time, string, bool, bool) {
	return line, time.Time{}, "", false, true
}

// parseCRI decodes the CRI log format written by kubelet's container
// runtimes: "<RFC3339Nano time> <stdout|stderr> <tag> <message>", where the
// tag is "F" (full line) or "P" (partial: the runtime split a long line and
// the message continues in the next record), possibly followed by
// ":"-separated extra tags. The message may be empty.
func parseCRI(line []byte) (msg []byte, ts time.Time, stream string, partial, ok bool) {
	i := bytes.IndexByte(line, ' ')
	if i <= 0 {
		return
	}
	ts, err := time.Parse(time.RFC3339Nano, unsafe.String(&line[0], i))
	if err != nil {
		return
	}
	rest := line[i+1:]
	j := bytes.IndexByte(rest, ' ')
	if j < 0 {
		return
	}
	if stream = streamName(string(rest[:j])); stream == "" {
		return
	}
	rest = rest[j+1:]
	tag := rest
	msg = rest[len(rest):]
	if k := bytes.IndexByte(rest, ' '); k >= 0 {
		tag, msg = rest[:k], rest[k+1:]
	}
	if k := bytes.IndexByte(tag, ':'); k >= 0 {
		tag = tag[:k]
	}
	switch string(tag) {
	case "P":
		partial = true
	case "F":
	default:
		return nil, time.Time{}, "", false, false
	}
	return msg, ts, stream, partial, true
}

// dockerRecord is one line of Docker's json-file log driver.
type dockerRecord struct {
	Log    *string `json:"log"`
	Stream string  `json:"stream"`
	Time   string  `json:"time"`
}

// parseDocker decodes Docker's json-file format:
// {"log":"text\n","stream":"stdout","time":"<RFC3339Nano>"}. Docker splits
// lines longer than 16 KiB into records whose "log" lacks the final "\n":
// those are partials, joined with the records that follow. A trailing "\r"
// before the newline is removed, as the tailer does for raw lines.
func parseDocker(line []byte) (msg []byte, ts time.Time, stream string, partial, ok bool) {
	var r dockerRecord
	if err := json.Unmarshal(line, &r); err != nil || r.Log == nil {
		return
	}
	if stream = streamName(r.Stream); stream == "" {
		return
	}
	ts, err := time.Parse(time.RFC3339Nano, r.Time)
	if err != nil {
		return nil, time.Time{}, "", false, false
	}
	s := *r.Log
	if n := len(s); n > 0 && s[n-1] == '\n' {
		s = s[:n-1]
		if n := len(s); n > 0 && s[n-1] == '\r' {
			s = s[:n-1]
		}
	} else {
		partial = true
	}
	return []byte(s), ts, stream, partial, true
}

// streamName returns the constant for a stream name, stdout or stderr (so a
// decoded line holds no copy of it), or "" for any other name.
func streamName(s string) string {
	switch s {
	case stdout:
		return stdout
	case stderr:
		return stderr
	}
	return ""
}
