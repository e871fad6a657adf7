package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
)

// faultyFile injects the faults of a full or failing disk: a write that
// stores only its first tornAt bytes and fails with ENOSPC, or a failing
// fsync.
type faultyFile struct {
	deadLetterFile
	tornAt   int // -1: writes succeed
	failSync bool
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if f.tornAt < 0 {
		return f.deadLetterFile.Write(p)
	}
	n, _ := f.deadLetterFile.Write(p[:min(f.tornAt, len(p))])
	return n, syscall.ENOSPC
}

func (f *faultyFile) Sync() error {
	if f.failSync {
		return syscall.EIO
	}
	return f.deadLetterFile.Sync()
}

// newTestDeadLetter returns a dead-letter writer into a temporary directory
// whose next open is faulty while *fault is set, and the directories it
// fsynced.
func newTestDeadLetter(t *testing.T, fault **faultyFile) (*deadLetter, *[]string) {
	t.Helper()
	var synced []string
	d := &deadLetter{dir: filepath.Join(t.TempDir(), "dl"), max: 1 << 20, log: slog.New(slog.DiscardHandler),
		openFile: func(name string, flag int, perm os.FileMode) (deadLetterFile, error) {
			f, err := openDeadLetterFile(name, flag, perm)
			if err != nil || *fault == nil {
				return f, err
			}
			ff := *fault
			ff.deadLetterFile = f
			return ff, nil
		},
		syncDir: func(dir string) error {
			synced = append(synced, dir)
			return syncDirectory(dir)
		},
	}
	return d, &synced
}

// deadLetterLines returns the file's lines, failing the test on a line that
// is not a whole JSON entry or a missing final newline.
func deadLetterLines(t *testing.T, d *deadLetter) []DeadLetterEntry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(d.dir, DeadLetterFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("dead-letter file ends in a torn line: %q", data[bytes.LastIndexByte(data, '\n')+1:])
	}
	var out []DeadLetterEntry
	for line := range bytes.Lines(data) {
		var e DeadLetterEntry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("dead-letter line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func dlRecord(v string) *Record { return &Record{Key: []byte("k"), Value: []byte(v)} }

// TestDeadLetterFailedWriteLeavesNoTornLine: a write the disk cuts short
// (ENOSPC after some bytes) or whose fsync fails reports an error and leaves
// no part of its line behind; the next entry is whole.
func TestDeadLetterFailedWriteLeavesNoTornLine(t *testing.T) {
	for _, fault := range []*faultyFile{{tornAt: 17}, {tornAt: -1, failSync: true}} {
		var cur *faultyFile
		d, _ := newTestDeadLetter(t, &cur)
		tp := topicPartition{"t", 0}
		if err := d.write(tp, dlRecord("one"), "too_large", nil); err != nil {
			t.Fatal(err)
		}
		cur = fault
		if err := d.write(tp, dlRecord("two"), "too_large", nil); err == nil {
			t.Fatal("a failed write reported success")
		}
		cur = nil
		if err := d.write(tp, dlRecord("three"), "too_large", nil); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range deadLetterLines(t, d) {
			got = append(got, string(e.Value))
		}
		if !slices.Equal(got, []string{"one", "three"}) {
			t.Fatalf("torn at %d, sync failure %v: entries %q, want [one three]", fault.tornAt, fault.failSync, got)
		}
	}
}

// TestDeadLetterTornTailRepairedOnOpen: a torn last line left by a crash
// mid-write is cut back to the last newline when the file is next opened.
func TestDeadLetterTornTailRepairedOnOpen(t *testing.T) {
	var cur *faultyFile
	d, _ := newTestDeadLetter(t, &cur)
	tp := topicPartition{"t", 0}
	if err := d.write(tp, dlRecord("one"), "too_large", nil); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(d.dir, DeadLetterFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"time":"2026-12-06T03:`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := d.write(tp, dlRecord("two"), "too_large", nil); err != nil {
		t.Fatal(err)
	}
	if got := deadLetterLines(t, d); len(got) != 2 || string(got[0].Value) != "one" || string(got[1].Value) != "two" {
		t.Fatalf("entries %+v, want one and two", got)
	}
}

// TestDeadLetterCreationSynced: creating the directory and the file is made
// durable by fsyncing their parent directories before the entry counts as
// written.
func TestDeadLetterCreationSynced(t *testing.T) {
	var cur *faultyFile
	d, synced := newTestDeadLetter(t, &cur)
	if err := d.write(topicPartition{"t", 0}, dlRecord("one"), "too_large", nil); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Dir(d.dir), d.dir}
	for _, dir := range want {
		if !slices.Contains(*synced, dir) {
			t.Fatalf("directories fsynced %q, want %q", *synced, want)
		}
	}
}

// TestDeadLetterAckAfterDurable: a record whose dead-letter line cannot be
// made durable is not acknowledged as dead-lettered: it goes to Kafka
// truncated (the fallback), counted as a dead-letter write error, and the
// file holds no line for it.
func TestDeadLetterAckAfterDurable(t *testing.T) {
	fb := &fakeBroker{limit: 1024}
	p, reg := newTestProducer(t, fb, Options{Oversize: OversizeDeadLetter, DeadLetterDir: filepath.Join(t.TempDir(), "dl")})
	cur := &faultyFile{tornAt: -1, failSync: true}
	inner := openDeadLetterFile
	p.deadLetter.openFile = func(name string, flag int, perm os.FileMode) (deadLetterFile, error) {
		f, err := inner(name, flag, perm)
		if err != nil {
			return nil, err
		}
		cur.deadLetterFile = f
		return cur, nil
	}
	tr := checkpoint.NewTracker(0, nil)
	if err := p.Append("t", 0, trackedRecords(tr, payload(5000, 1))); err != nil {
		t.Fatal(err)
	}
	closeProducer(t, p)
	if tr.Pending() != 0 {
		t.Fatalf("%d pending", tr.Pending())
	}
	if n := counter(t, reg, "logship_dead_letter_records_total"); n != 0 {
		t.Fatalf("dead_letter_records_total %v after a failed fsync, want 0", n)
	}
	if n := counter(t, reg, "logship_dead_letter_errors_total", "reason", "write"); n != 1 {
		t.Fatalf("dead_letter_errors_total{write} %v, want 1", n)
	}
	if len(fb.log) != 1 {
		t.Fatalf("Kafka holds %d records, want the truncated fallback", len(fb.log))
	}
	if data, err := os.ReadFile(filepath.Join(p.deadLetter.dir, DeadLetterFile)); err != nil && !errors.Is(err, os.ErrNotExist) || len(data) != 0 {
		t.Fatalf("dead-letter file holds %d bytes (%v), want nothing", len(data), err)
	}
}

// writeDeadLetter appends one small entry through d.
func writeDeadLetter(d *deadLetter) error {
	return d.write(topicPartition{topic: "t"}, &Record{Key: []byte("k"), Value: []byte("v")}, "too_large", nil)
}

// #11 item 16: the dead-letter file never follows a symlink and never lands
// in a directory others can write to.
func TestDeadLetterRefusesUnsafePaths(t *testing.T) {
	t.Run("symlinked file", func(t *testing.T) {
		base := t.TempDir()
		dir := filepath.Join(base, "dl")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		victim := filepath.Join(base, "victim")
		if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, filepath.Join(dir, DeadLetterFile)); err != nil {
			t.Fatal(err)
		}
		err := writeDeadLetter(&deadLetter{dir: dir, max: 1 << 20})
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("write through a symlinked file = %v, want an error naming the symlink", err)
		}
		if data, _ := os.ReadFile(victim); string(data) != "precious\n" {
			t.Errorf("the symlink's target was written: %q", data)
		}
	})
	t.Run("symlinked directory", func(t *testing.T) {
		base := t.TempDir()
		real := filepath.Join(base, "real")
		if err := os.Mkdir(real, 0o700); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(base, "dl")
		if err := os.Symlink(real, dir); err != nil {
			t.Fatal(err)
		}
		err := writeDeadLetter(&deadLetter{dir: dir, max: 1 << 20})
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("write into a symlinked directory = %v, want an error naming the symlink", err)
		}
		if _, err := os.Stat(filepath.Join(real, DeadLetterFile)); err == nil {
			t.Error("the file was created through the symlink")
		}
	})
	for _, mode := range []os.FileMode{0o770, 0o777 | os.ModeSticky} {
		t.Run("writable by others "+mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "dl")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			err := writeDeadLetter(&deadLetter{dir: dir, max: 1 << 20})
			if err == nil || !strings.Contains(err.Error(), "writable by group or others") {
				t.Errorf("write into a %v directory = %v, want a refusal", mode, err)
			}
			if _, err := os.Stat(filepath.Join(dir, DeadLetterFile)); err == nil {
				t.Error("the file was created")
			}
		})
	}
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		if err := mkfifo(filepath.Join(dir, DeadLetterFile)); err != nil {
			t.Skip(err)
		}
		done := make(chan error, 1)
		go func() { done <- writeDeadLetter(&deadLetter{dir: dir, max: 1 << 20}) }()
		select {
		case err := <-done:
			if err == nil {
				t.Error("write to a FIFO succeeded")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("write to a FIFO still blocked after 5s")
		}
	})
}

// #11 item 16: an existing file looser than 0600 is used as it is and
// logged once; a new one is 0600 (TestOversizeDeadLetter).
func TestDeadLetterWarnsAboutLooseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DeadLetterFile)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	d := &deadLetter{dir: dir, max: 1 << 20, log: slog.New(slog.NewTextHandler(&logs, nil))}
	for range 2 {
		if err := writeDeadLetter(d); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode after writes: %v %v, want 0644 unchanged", st.Mode(), err)
	}
	if n := strings.Count(logs.String(), "dead-letter file is accessible to group or others"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}
