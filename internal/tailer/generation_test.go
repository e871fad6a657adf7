package tailer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logship/logship/internal/config"
)

// generationOf is the Source.Generation expected for a file whose first
// line is first.
func generationOf(first string) string { return hashHex([]byte(first))[:32] }

// TestSourceGeneration: every line of a file generation carries the hash
// of the file's first line, the same after a restart (a small file still
// growing, so the tailer's own fingerprint changes meanwhile); a truncation
// starts a generation with another value, and a first line over 1 KiB is
// hashed on its first 1024 bytes.
func TestSourceGeneration(t *testing.T) {
	h := newHarness(t, config.Pipeline{}, nil, 0)
	path := h.path("s.log")
	writeFile(t, path, "a\n")
	h.start()
	h.waitLines(1)
	appendFile(t, path, "b\n")
	recs := h.waitLines(2)
	for _, r := range recs {
		if r.src.Generation != generationOf("a\n") {
			t.Fatalf("line %q: generation %q, want %q", r.data, r.src.Generation, generationOf("a\n"))
		}
	}
	waitFor(t, "committed", func() bool { st, _ := h.stateOf(path); return st.Offset == 4 })
	st, _ := h.stateOf(path)
	h.stop()

	appendFile(t, path, "c\n")
	h2 := newHarness(t, config.Pipeline{Paths: []string{"unused"}}, nil, 0, withRestore(st))
	h2.retarget(filepath.Join(filepath.Dir(path), "*.log"))
	h2.start()
	if r := h2.waitLines(1)[0]; r.data != "c" || r.src.Generation != generationOf("a\n") {
		t.Fatalf("after restart: line %q with generation %q, want c with %q", r.data, r.src.Generation, generationOf("a\n"))
	}

	// Truncated and rewritten: a new generation of the same inode.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "other first line\n")
	waitFor(t, "the rewritten line", func() bool { return h2.sink.count() >= 2 })
	if r := h2.sink.snapshot()[1]; r.data != "other first line" || r.src.Generation != generationOf("other first line\n") {
		t.Fatalf("after truncation: line %q with generation %q, want %q", r.data, r.src.Generation, generationOf("other first line\n"))
	}

	long := strings.Repeat("x", 2000) + "\n"
	writeFile(t, filepath.Join(filepath.Dir(path), "long.log"), long)
	waitFor(t, "the long line", func() bool { return h2.sink.count() >= 3 })
	if r := h2.sink.snapshot()[2]; r.src.Generation != generationOf(long[:fingerprintMax]) {
		t.Fatalf("long first line: generation %q, want the hash of its first %d bytes", r.src.Generation, fingerprintMax)
	}
}
