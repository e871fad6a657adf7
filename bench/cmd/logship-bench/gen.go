package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

// lineLen is the length of every generated line, newline included.
const lineLen = 200

// Line layout (fixed width so a verifier can parse without splitting):
//
//	0000000042 1764191700123456789 level=INFO svc=checkout ... filler\n
//	^ seq (10)  ^ write time, unix ns (19)
//
// The write time is 0 in backlog files and the time of the write(2) call in
// live files (latency and many-files modes).
const (
	seqWidth   = 10
	stampStart = seqWidth + 1
	stampWidth = 19
	bodyStart  = stampStart + stampWidth + 1
)

var (
	levels = []string{"INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR"}
	paths  = []string{"/api/v1/cart/items", "/api/v1/orders", "/healthz", "/api/v2/search?q=shoes", "/login"}
	words  = []string{"request", "served", "cache", "miss", "upstream", "latency", "retry", "user", "session",
		"token", "refreshed", "payload", "accepted", "queue", "depth", "ok"}
)

// appendLine appends one lineLen-byte log line with sequence number seq and
// write time stamp (unix ns) to dst. The body is pseudo-random but
// log-like, so lz4 sees realistic redundancy.
func appendLine(dst []byte, seq int, stamp int64, rng *rand.Rand) []byte {
	start := len(dst)
	dst = appendPadded(dst, int64(seq), seqWidth)
	dst = append(dst, ' ')
	dst = appendPadded(dst, stamp, stampWidth)
	dst = append(dst, " level="...)
	dst = append(dst, levels[rng.IntN(len(levels))]...)
	dst = append(dst, " svc=checkout host=web-"...)
	dst = strconv.AppendInt(dst, int64(rng.IntN(32)), 10)
	dst = append(dst, " req="...)
	dst = strconv.AppendUint(dst, rng.Uint64(), 16)
	dst = append(dst, " path="...)
	dst = append(dst, paths[rng.IntN(len(paths))]...)
	dst = append(dst, " status=200 dur_ms="...)
	dst = strconv.AppendInt(dst, int64(rng.IntN(900)), 10)
	dst = append(dst, " msg=\""...)
	for len(dst)-start < lineLen-2 {
		dst = append(dst, words[rng.IntN(len(words))]...)
		dst = append(dst, ' ')
	}
	dst = dst[:start+lineLen-2]
	return append(dst, '"', '\n')
}

func appendPadded(dst []byte, v int64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], v, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// parseLine returns the sequence number and write stamp of a line produced
// by appendLine, or ok=false.
func parseLine(b []byte) (seq int, stamp int64, ok bool) {
	if len(b) < bodyStart {
		return 0, 0, false
	}
	s, err := strconv.Atoi(string(b[:seqWidth]))
	if err != nil {
		return 0, 0, false
	}
	st, err := strconv.ParseInt(string(b[stampStart:stampStart+stampWidth]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return s, st, true
}

// generate writes a backlog file of n lines numbered 0..n-1 and returns its
// size. Files are cached by name: an existing file of the right size is
// reused.
func generate(path string, n int) (int64, error) {
	want := int64(n) * lineLen
	if fi, err := os.Stat(path); err == nil && fi.Size() == want {
		return want, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	buf := make([]byte, 0, lineLen)
	for seq := range n {
		buf = appendLine(buf[:0], seq, 0, rng)
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return want, f.Close()
}

// liveWriter appends lines to files at a fixed total rate until dur has
// passed or ctx ends, round-robin over the files, one write(2) per file per
// tick, each line stamped with the time just before its write. It returns
// the number of lines written (numbered 0..written-1).
func liveWriter(ctx context.Context, files []*os.File, rate int, dur time.Duration, tick time.Duration) (int, error) {
	rng := rand.New(rand.NewPCG(uint64(rate), 11))
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	written := 0
	n := len(files)
	var buf []byte
	for {
		elapsed := time.Since(start)
		if elapsed > dur {
			elapsed = dur
		}
		due := int(float64(rate) * elapsed.Seconds())
		if due > written {
			// Line seq goes to file seq % n; each file gets its lines of
			// this tick in one write, stamped just before that write.
			for f := range n {
				first := written + ((f-written%n)+n)%n
				if first >= due {
					continue
				}
				buf = buf[:0]
				stamp := time.Now().UnixNano()
				for seq := first; seq < due; seq += n {
					buf = appendLine(buf, seq, stamp, rng)
				}
				if _, err := files[f].Write(buf); err != nil {
					return written, fmt.Errorf("live writer: %w", err)
				}
			}
			written = due
		}
		if elapsed >= dur {
			return written, nil
		}
		select {
		case <-ctx.Done():
			return written, ctx.Err()
		case <-t.C:
		}
	}
}
