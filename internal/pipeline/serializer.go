package pipeline

import (
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/logship/logship/internal/config"
)

// Event is what a serializer turns into a record value: one decoded line (or
// joined multiline event) with its source and configured fields.
type Event struct {
	Message []byte
	Time    time.Time
	Host    string
	Source  string
	// Offset is the file offset just past the event's last line: the
	// checkpoint position once the record is acknowledged, so a consumer can
	// de-duplicate on (source, offset).
	Offset int64
	// Stream is "stdout" or "stderr" for container logs; "" omits it.
	Stream string
	// Fields are extra string fields: the pipeline's configured fields and,
	// for container logs, those taken from the path and the log line.
	Fields []Field
}

// Field is one key/value pair of an Event. Fields keep configuration order.
type Field struct{ Key, Value string }

// Serializer appends the record value for ev to dst and returns the extended
// slice. It reports whether the message had to be altered (invalid UTF-8
// replaced) so the caller can count it. Serializers are pure functions.
type Serializer func(dst []byte, ev *Event) (out []byte, altered bool)

// NewSerializer returns the serializer named in the configuration: "raw"
// (the message bytes verbatim) or "json" (an envelope
// {"ts","host","source","offset","message","stream","fields"}; stream and
// fields only when set).
func NewSerializer(name config.Serializer) (Serializer, error) {
	switch name {
	case "", config.SerializerRaw:
		return serializeRaw, nil
	case config.SerializerJSON:
		return serializeJSON, nil
	}
	return nil, fmt.Errorf("serializer: unknown serializer %q", name)
}

func serializeRaw(dst []byte, ev *Event) ([]byte, bool) {
	return append(dst, ev.Message...), false
}

func serializeJSON(dst []byte, ev *Event) ([]byte, bool) {
	dst = append(dst, `{"ts":"`...)
	dst = ev.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","host":`...)
	dst = appendJSONText(dst, ev.Host)
	dst = append(dst, `,"source":`...)
	dst = appendJSONText(dst, ev.Source)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, ev.Offset, 10)
	dst = append(dst, `,"message":`...)
	dst, altered := appendJSONString(dst, ev.Message)
	if ev.Stream != "" {
		dst = append(dst, `,"stream":`...)
		dst = appendJSONText(dst, ev.Stream)
	}
	if len(ev.Fields) > 0 {
		dst = append(dst, `,"fields":{`...)
		for i, f := range ev.Fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONText(dst, f.Key)
			dst = append(dst, ':')
			dst = appendJSONText(dst, f.Value)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}'), altered
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Control characters (NUL
// included) are escaped; invalid UTF-8 is replaced by U+FFFD and reported.
func appendJSONString(dst []byte, s []byte) ([]byte, bool) {
	altered := false
	dst = slices.Grow(dst, len(s)+2)
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			altered = true
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript consumers.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), altered
}

// appendJSONText is appendJSONString for strings, without copying them.
func appendJSONText(dst []byte, s string) []byte {
	dst, _ = appendJSONString(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
	return dst
}
