package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/logship/logship/internal/checkpoint"
)

// hostile is a file name that, printed raw, returns the cursor, clears the
// screen, breaks the table's columns and rows, and is not UTF-8.
const hostile = "/var/log/a\rb\x1b[2J\tc\nd\x9b\xffe\u202e.log"

// assertTerminalSafe fails if out holds a control character other than the
// table's own newlines, or invalid UTF-8.
func assertTerminalSafe(t *testing.T, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("output is not valid UTF-8: %q", out)
	}
	for _, r := range out {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
			t.Errorf("output holds control character %U: %q", r, out)
			return
		}
	}
}

// #11 item 17: a file name cannot rewrite the status table or the terminal.
func TestRenderStatusEscapesControlCharacters(t *testing.T) {
	now := time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)
	doc := statusDoc{
		Source: "agent", Version: "v1", Now: now, Started: now, Ready: false, NotReady: "topic \x1b[31mred\x1b[0m",
		Pipelines: []pipelineStatus{{Name: "app", Files: []fileStatus{{Path: hostile, Offset: 1, Size: 2, State: "idle"}}}},
	}
	var b bytes.Buffer
	if err := renderStatus(&b, doc); err != nil {
		t.Fatal(err)
	}
	assertTerminalSafe(t, b.String())
	if want := `/var/log/a\rb\x1b[2J\tc\nd\x9b\xffe\u202e.log`; !strings.Contains(b.String(), want) {
		t.Errorf("output lacks the escaped name %s:\n%s", want, b.String())
	}
}

func TestCheckpointsEscapesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	store, err := checkpoint.Open(dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save([]checkpoint.FileState{{Pipeline: "app", Path: hostile, Device: 1, Inode: 2, Offset: 3,
		Updated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "agent: {data_dir: %q}\nkafka: {brokers: [\"127.0.0.1:1\"]}\npipelines: [{name: app, paths: [/var/log/*.log], topic: t}]\n", dataDir), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"checkpoints", "-config", cfg}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
	}
	assertTerminalSafe(t, out.String())
	if !strings.Contains(out.String(), `a\rb\x1b[2J\tc\nd`) {
		t.Errorf("output lacks the escaped name:\n%s", out.String())
	}
}

func TestTermSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/var/log/app.log", "/var/log/app.log"},
		{"/var/log/été/日本.log", "/var/log/été/日本.log"},
		{`a\x1b`, `a\\x1b`}, // a literal backslash never looks like an escape
		{"a\x1bb", `a\x1bb`},
		{"a\x7fb\u0085c", `a\x7fb\u0085c`},
		{"\xc3", `\xc3`},
	} {
		if got := termSafe(tc.in); got != tc.want {
			t.Errorf("termSafe(%q) = %s, want %s", tc.in, got, tc.want)
		}
		assertTerminalSafe(t, termSafe(tc.in))
	}
}
