package tailer

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// got is a span rendered for comparison.
type got struct {
	data      string
	end       int64
	part      int
	last      bool
	truncated bool
}

func render(buf []byte, spans []span) []got {
	var out []got
	for _, sp := range spans {
		out = append(out, got{string(buf[sp.from:sp.to]), sp.end, sp.part, sp.last, sp.truncated})
	}
	return out
}

func TestSplitterScan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		max      int
		truncate bool
		want     []got
		consumed int
		discard  bool
	}{
		{name: "lines", in: "a\nbb\n", max: 10, want: []got{{"a", 2, 0, false, false}, {"bb", 5, 0, false, false}}, consumed: 5},
		{name: "crlf", in: "a\r\nb\r\n", max: 10, want: []got{{"a", 3, 0, false, false}, {"b", 6, 0, false, false}}, consumed: 6},
		{name: "inner cr kept", in: "a\rb\n", max: 10, want: []got{{"a\rb", 4, 0, false, false}}, consumed: 4},
		{name: "empty lines", in: "\n\r\n\n", max: 10, want: []got{{"", 1, 0, false, false}, {"", 3, 0, false, false}, {"", 4, 0, false, false}}, consumed: 4},
		{name: "partial held back", in: "a\nbc", max: 10, want: []got{{"a", 2, 0, false, false}}, consumed: 2},
		{name: "binary", in: "\x00\xff\x01\n", max: 10, want: []got{{"\x00\xff\x01", 4, 0, false, false}}, consumed: 4},
		{name: "exactly max", in: "0123\n", max: 4, want: []got{{"0123", 5, 0, false, false}}, consumed: 5},
		{name: "partial of max held", in: "0123", max: 4, consumed: 0},
		{
			name: "split complete", in: "0123456789\nx\n", max: 4,
			want:     []got{{"0123", 4, 1, false, false}, {"4567", 8, 2, false, false}, {"89", 11, 3, true, false}, {"x", 13, 0, false, false}},
			consumed: 13,
		},
		{
			name: "split cr at end", in: "0123\r\n", max: 4,
			want: []got{{"0123", 4, 1, false, false}, {"", 6, 2, true, false}}, consumed: 6,
		},
		{
			name: "split partial", in: "0123456789", max: 4,
			want: []got{{"0123", 4, 1, false, false}, {"4567", 8, 2, false, false}}, consumed: 8,
		},
		{
			name: "truncate complete", in: "0123456789\nx\n", max: 4, truncate: true,
			want: []got{{"0123", 11, 0, false, true}, {"x", 13, 0, false, false}}, consumed: 13,
		},
		{
			name: "truncate long partial discards", in: "a\n0123456789", max: 4, truncate: true,
			want: []got{{"a", 2, 0, false, false}}, consumed: 2, discard: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := splitter{max: tc.max, truncate: tc.truncate}
			spans, consumed, discard := s.scan([]byte(tc.in), 0, nil)
			if g := render([]byte(tc.in), spans); fmt.Sprint(g) != fmt.Sprint(tc.want) {
				t.Errorf("spans = %+v, want %+v", g, tc.want)
			}
			if consumed != tc.consumed || discard != tc.discard {
				t.Errorf("consumed, discard = %d, %v, want %d, %v", consumed, discard, tc.consumed, tc.discard)
			}
			var held int64
			for _, sp := range spans {
				held += sp.size
			}
			if held > int64(consumed) {
				t.Errorf("sizes %d exceed consumed %d", held, consumed)
			}
		})
	}
}

func TestSplitterSplitAcrossReads(t *testing.T) {
	t.Parallel()
	// The reader re-reads the held-back partial line; parts continue their
	// numbering across reads.
	s := splitter{max: 4}
	in := []byte("0123456789\n")
	spans, consumed, _ := s.scan(in[:6], 0, nil)
	if fmt.Sprint(render(in, spans)) != fmt.Sprint([]got{{"0123", 4, 1, false, false}}) || consumed != 4 {
		t.Fatalf("first read: %+v consumed %d", render(in, spans), consumed)
	}
	rest := in[consumed:]
	spans, consumed, _ = s.scan(rest, 4, nil)
	want := []got{{"4567", 8, 2, false, false}, {"89", 11, 3, true, false}}
	if fmt.Sprint(render(rest, spans)) != fmt.Sprint(want) || consumed != len(rest) {
		t.Fatalf("second read: %+v consumed %d", render(rest, spans), consumed)
	}
}

// FuzzSplitter feeds data in chunks the way the reader does (re-reading the
// partial line) and checks that, under the split policy, the parts and lines
// reassemble the input exactly, ends increase, and sizes add up.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nlong line here\n"), 3, 2)
	f.Add([]byte("\x00\n\r\r\n"), 1, 1)
	f.Fuzz(func(t *testing.T, data []byte, maxLine, chunk int) {
		if maxLine < 1 || maxLine > 64 || chunk < 1 || chunk > 64 {
			t.Skip()
		}
		s := splitter{max: maxLine}
		var (
			out      strings.Builder
			lineBuf  strings.Builder
			lastEnd  int64
			start    int
			readTo   int
			total    int64
			nextPart = 1
		)
		for start < len(data) {
			readTo = min(len(data), max(readTo, start)+chunk)
			spans, consumed, discard := s.scan(data[start:readTo], int64(start), nil)
			if discard {
				t.Fatal("discard under split policy")
			}
			for _, sp := range spans {
				if sp.end < lastEnd || sp.end > int64(readTo) {
					t.Fatalf("end %d after %d (read to %d)", sp.end, lastEnd, readTo)
				}
				lastEnd = sp.end
				total += sp.size
				seg := data[start+sp.from : start+sp.to]
				lineBuf.Write(seg)
				switch {
				case sp.part == 0:
					if nextPart != 1 {
						t.Fatalf("whole line while part %d pending", nextPart)
					}
				case sp.part != nextPart:
					t.Fatalf("part %d, want %d", sp.part, nextPart)
				default:
					nextPart++
				}
				if sp.part == 0 || sp.last {
					out.WriteString(lineBuf.String())
					out.WriteByte('\n')
					lineBuf.Reset()
					nextPart = 1
				}
			}
			start += consumed
			if consumed == 0 && readTo == len(data) {
				break // held-back partial line at EOF
			}
		}
		if total != int64(start) {
			t.Fatalf("sizes %d, consumed %d", total, start)
		}
		// Reference: complete lines lose their newline and one trailing
		// "\r"; emitted parts of an unfinished line are verbatim.
		var want strings.Builder
		complete := data[:start]
		for {
			i := bytes.IndexByte(complete, '\n')
			if i < 0 {
				want.Write(complete)
				break
			}
			want.Write(bytes.TrimSuffix(complete[:i], []byte("\r")))
			want.WriteByte('\n')
			complete = complete[i+1:]
		}
		if out.String()+lineBuf.String() != want.String() {
			t.Fatalf("reassembled %q, want %q", out.String()+lineBuf.String(), want.String())
		}
	})
}
