package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const fp = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func sampleEntries(offset int64) []FileState {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	return []FileState{
		{Pipeline: "app", Path: "/var/log/app/b.log", Device: 1, Inode: 20, Fingerprint: fp, FingerprintLen: 1024, Offset: offset, Size: offset + 10, Updated: ts},
		{Pipeline: "app", Path: "/var/log/app/a.log", Device: 1, Inode: 10, Fingerprint: fp, FingerprintLen: 1024, Offset: offset * 2, Size: offset * 3, Updated: ts},
		{Pipeline: "sys", Path: "/var/log/syslog", Device: 2, Inode: 5, Offset: 7, Size: 7, Updated: ts},
	}
}

// canon returns entries in the order Load returns them.
func canon(entries []FileState) []FileState {
	c := slices.Clone(entries)
	sortEntries(c)
	return c
}

func equalStates(a, b []FileState) bool {
	return slices.EqualFunc(a, b, func(x, y FileState) bool {
		if !x.Updated.Equal(y.Updated) {
			return false
		}
		x.Updated, y.Updated = time.Time{}, time.Time{}
		return x == y
	})
}

func mustEncode(t testing.TB, entries []FileState) []byte {
	t.Helper()
	c := canon(entries)
	data, err := encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// envelope builds a file with a correct checksum around arbitrary entries
// JSON, to reach validation behind the checksum.
func envelope(version int, entries string) []byte {
	return fmt.Appendf(nil, `{"version":%d,"checksum":%q,"entries":%s}`, version, checksum([]byte(entries)), entries)
}

func TestOpenModes(t *testing.T) {
	t.Run("creates 0700", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state", "logship")
		s, err := Open(dir, discard)
		if err != nil {
			t.Fatal(err)
		}
		assertMode(t, dir, 0o700)
		if err := s.Save(sampleEntries(5)); err != nil {
			t.Fatal(err)
		}
		assertMode(t, s.Path(), 0o600)
		if err := s.Save(sampleEntries(6)); err != nil {
			t.Fatal(err)
		}
		assertMode(t, s.Path(), 0o600)
		assertMode(t, s.Path()+PrevSuffix, 0o600)
	})
	t.Run("world-writable refused without trying chmod", func(t *testing.T) {
		m := newMemFS()
		m.dirMode = 0o777
		_, err := openStore("/state", m, fixedClock())
		if !errors.Is(err, ErrInsecureDir) {
			t.Fatalf("Open = %v, want ErrInsecureDir", err)
		}
		m.dirMode = 0o500 // narrower: tolerated, Save reports real problems
		if _, err := openStore("/state", m, fixedClock()); err != nil {
			t.Fatalf("Open of a 0500 directory = %v", err)
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(p, discard); err == nil {
			t.Fatal("Open on a regular file succeeded")
		}
	})
	t.Run("removes stale temp files", func(t *testing.T) {
		dir := t.TempDir()
		stale := filepath.Join(dir, tempPrefix+"123")
		if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, discard); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("stale temp file still there: %v", err)
		}
	})
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Fatalf("%s: mode %v, want %v", path, got, want)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir(), discard)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Load()
	if err != nil || len(res.Entries) != 0 || res.Reset || res.RecoveredFrom != "" || res.Cause != nil {
		t.Fatalf("first Load = %+v, %v; want empty clean result", res, err)
	}
	in := sampleEntries(100)
	if err := s.Save(in); err != nil {
		t.Fatal(err)
	}
	if in[0].Inode != 20 {
		t.Fatal("Save reordered the caller's slice")
	}
	res, err = s.Load()
	if err != nil || res.Cause != nil || res.RecoveredFrom != "" {
		t.Fatalf("Load = %+v, %v", res, err)
	}
	if !equalStates(res.Entries, canon(in)) {
		t.Fatalf("Load entries = %+v, want %+v", res.Entries, canon(in))
	}

	// Deterministic output whatever the input order.
	a, _ := os.ReadFile(s.Path())
	rev := slices.Clone(in)
	slices.Reverse(rev)
	if err := s.Save(rev); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(s.Path())
	if !bytes.Equal(a, b) {
		t.Fatalf("Save not deterministic:\n%s\n%s", a, b)
	}

	// Empty state round-trips too.
	if err := s.Save(nil); err != nil {
		t.Fatal(err)
	}
	res, err = s.Load()
	if err != nil || res.Entries == nil || len(res.Entries) != 0 {
		t.Fatalf("Load after empty save = %+v, %v", res, err)
	}
	if got, err := ReadFile(s.Path()); err != nil || len(got) != 0 {
		t.Fatalf("ReadFile = %v, %v", got, err)
	}
}

func TestSaveRejectsInvalidEntries(t *testing.T) {
	bad := map[string]FileState{
		"negative offset":    {Pipeline: "p", Offset: -1},
		"absurd offset":      {Pipeline: "p", Offset: MaxOffset + 1},
		"negative size":      {Pipeline: "p", Size: -1},
		"bad fingerprint":    {Pipeline: "p", Fingerprint: "xyz"},
		"short fingerprint":  {Pipeline: "p", Fingerprint: "abcd"},
		"huge fingerprint n": {Pipeline: "p", FingerprintLen: MaxFingerprintLen + 1},
		"huge path":          {Pipeline: "p", Path: strings.Repeat("x", maxStringBytes+1)},
		"unencodable time":   {Pipeline: "p", Updated: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for name, e := range bad {
		t.Run(name, func(t *testing.T) {
			s, err := Open(t.TempDir(), discard)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Save(sampleEntries(1)); err != nil {
				t.Fatal(err)
			}
			err = s.Save(append(sampleEntries(2), e))
			if err == nil || !strings.HasPrefix(err.Error(), "checkpoint: save ") {
				t.Fatalf("Save = %v, want a checkpoint: save error", err)
			}
			res, err := s.Load()
			if err != nil || !equalStates(res.Entries, canon(sampleEntries(1))) {
				t.Fatalf("Load after rejected save = %+v, %v", res, err)
			}
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := mustEncode(t, sampleEntries(3))
	flipped := bytes.Clone(good)
	flipped[bytes.Index(flipped, []byte(`"offset":3`))+len(`"offset":`)] = '4'
	cases := map[string]struct {
		data    []byte
		version bool
	}{
		"empty":                {data: nil},
		"whitespace":           {data: []byte(" \n\t")},
		"truncated":            {data: good[:len(good)/2]},
		"truncated by one":     {data: good[:len(good)-2]},
		"not json":             {data: []byte("hello")},
		"null":                 {data: []byte("null")},
		"array":                {data: []byte("[]")},
		"bit flip":             {data: flipped},
		"bad checksum":         {data: bytes.Replace(good, []byte(`"checksum":"crc32c:`), []byte(`"checksum":"crc32c:0`), 1)},
		"no checksum":          {data: []byte(`{"version":1,"entries":[]}`)},
		"wrong version":        {data: envelope(2, `[]`), version: true},
		"no version":           {data: []byte(`{"checksum":"` + checksum([]byte("[]")) + `","entries":[]}`)},
		"unknown top field":    {data: []byte(`{"version":1,"checksum":"` + checksum([]byte("[]")) + `","entries":[],"x":1}`)},
		"trailing data":        {data: append(bytes.Clone(good), []byte(`{}`)...)},
		"entries object":       {data: envelope(1, `{}`)},
		"entries null":         {data: envelope(1, `null`)},
		"entries string":       {data: envelope(1, `"x"`)},
		"unknown entry field":  {data: envelope(1, `[{"pipeline":"p","evil":1}]`)},
		"negative offset":      {data: envelope(1, `[{"pipeline":"p","offset":-5}]`)},
		"absurd offset":        {data: envelope(1, `[{"pipeline":"p","offset":9223372036854775807}]`)},
		"offset overflow":      {data: envelope(1, `[{"pipeline":"p","offset":1e30}]`)},
		"fractional offset":    {data: envelope(1, `[{"pipeline":"p","offset":1.5}]`)},
		"negative inode":       {data: envelope(1, `[{"pipeline":"p","inode":-1}]`)},
		"negative size":        {data: envelope(1, `[{"pipeline":"p","size":-1}]`)},
		"absurd fp len":        {data: envelope(1, `[{"pipeline":"p","fingerprint_len":99999999999}]`)},
		"negative fp len":      {data: envelope(1, `[{"pipeline":"p","fingerprint_len":-1}]`)},
		"fingerprint not hex":  {data: envelope(1, `[{"pipeline":"p","fingerprint":"zz"}]`)},
		"bad time":             {data: envelope(1, `[{"pipeline":"p","updated":"yesterday"}]`)},
		"wrong type":           {data: envelope(1, `[{"pipeline":7}]`)},
		"huge pipeline name":   {data: envelope(1, `[{"pipeline":"`+strings.Repeat("p", maxStringBytes+1)+`"}]`)},
		"too large":            {data: make([]byte, MaxFileBytes+1)},
		"deeply nested":        {data: []byte(strings.Repeat("[", 100000))},
		"invalid utf8 garbage": {data: []byte{0xff, 0xfe, 0x00, 0x01}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			entries, err := Decode(tc.data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %v, %v; want ErrCorrupt", entries, err)
			}
			if errors.Is(err, ErrVersion) != tc.version {
				t.Fatalf("Decode error %v: ErrVersion = %v, want %v", err, !tc.version, tc.version)
			}
		})
	}
	if _, err := Decode(good); err != nil {
		t.Fatalf("Decode(good) = %v", err)
	}
	// Insignificant whitespace around the envelope is fine.
	if _, err := Decode(append([]byte("\n "), good...)); err != nil {
		t.Fatalf("Decode(padded) = %v", err)
	}
}

// TestLoadRecovery covers every combination of current and previous file
// condition on the real filesystem.
func TestLoadRecovery(t *testing.T) {
	oldE, newE := sampleEntries(1), sampleEntries(2)
	good := func(e []FileState) func(t *testing.T, p string) {
		return func(t *testing.T, p string) { write(t, p, mustEncode(t, e)) }
	}
	corrupt := func(data []byte) func(t *testing.T, p string) {
		return func(t *testing.T, p string) { write(t, p, data) }
	}
	huge := func(t *testing.T, p string) {
		// A sparse 1 GiB file: rejected by size before it is read.
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(1 << 30); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	unreadable := func(t *testing.T, p string) {
		// A directory where the file should be: reading fails with an I/O
		// error (EISDIR) that is not corruption, even as root.
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	type want struct {
		entries     []FileState
		recovered   bool
		reset       bool
		quarantined int
		corrupt     bool // Cause wraps ErrCorrupt
		cause       bool
		err         bool
	}
	cases := []struct {
		name      string
		cur, prev func(t *testing.T, p string)
		want      want
	}{
		{"nothing", nil, nil, want{}},
		{"current good", good(newE), good(oldE), want{entries: newE}},
		{"current good, prev corrupt", good(newE), corrupt([]byte("x")), want{entries: newE}},
		{"current missing, prev good", nil, good(oldE), want{entries: oldE, recovered: true}},
		{"current empty, prev good", corrupt(nil), good(oldE), want{entries: oldE, recovered: true, quarantined: 1, corrupt: true, cause: true}},
		{"current truncated, prev good", corrupt(mustEncode(t, newE)[:40]), good(oldE), want{entries: oldE, recovered: true, quarantined: 1, corrupt: true, cause: true}},
		{"current wrong version, prev good", corrupt(envelope(9, "[]")), good(oldE), want{entries: oldE, recovered: true, quarantined: 1, corrupt: true, cause: true}},
		{"current hostile, prev good", corrupt(envelope(1, `[{"offset":-1}]`)), good(oldE), want{entries: oldE, recovered: true, quarantined: 1, corrupt: true, cause: true}},
		{"current huge, prev good", huge, good(oldE), want{entries: oldE, recovered: true, quarantined: 1, corrupt: true, cause: true}},
		{"current corrupt, no prev", corrupt([]byte("{")), nil, want{reset: true, quarantined: 1, corrupt: true, cause: true}},
		{"both corrupt", corrupt([]byte("{")), corrupt(nil), want{reset: true, quarantined: 2, corrupt: true, cause: true}},
		{"current missing, prev corrupt", nil, corrupt([]byte("]")), want{reset: true, quarantined: 1, corrupt: true, cause: true}},
		{"current unreadable, prev good", unreadable, good(oldE), want{entries: oldE, recovered: true, cause: true}},
		{"current unreadable, no prev", unreadable, nil, want{err: true}},
		{"current unreadable, prev corrupt", unreadable, corrupt(nil), want{err: true}},
		{"current missing, prev unreadable", nil, unreadable, want{err: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, discard)
			if err != nil {
				t.Fatal(err)
			}
			if tc.cur != nil {
				tc.cur(t, s.Path())
			}
			if tc.prev != nil {
				tc.prev(t, s.Path()+PrevSuffix)
			}
			res, err := s.Load()
			if tc.want.err {
				if err == nil || !strings.HasPrefix(err.Error(), "checkpoint: load ") {
					t.Fatalf("Load = %+v, %v; want a checkpoint: load error", res, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load error: %v", err)
			}
			if !equalStates(res.Entries, canon(tc.want.entries)) {
				t.Errorf("entries = %+v, want %+v", res.Entries, canon(tc.want.entries))
			}
			if (res.RecoveredFrom != "") != tc.want.recovered {
				t.Errorf("RecoveredFrom = %q, want recovered=%v", res.RecoveredFrom, tc.want.recovered)
			}
			if res.Reset != tc.want.reset {
				t.Errorf("Reset = %v, want %v", res.Reset, tc.want.reset)
			}
			if len(res.Quarantined) != tc.want.quarantined {
				t.Errorf("Quarantined = %v, want %d files", res.Quarantined, tc.want.quarantined)
			}
			if (res.Cause != nil) != tc.want.cause || errors.Is(res.Cause, ErrCorrupt) != tc.want.corrupt {
				t.Errorf("Cause = %v, want cause=%v corrupt=%v", res.Cause, tc.want.cause, tc.want.corrupt)
			}
			for _, q := range res.Quarantined {
				if !strings.Contains(filepath.Base(q), CorruptSuffix) {
					t.Errorf("quarantined name %q", q)
				}
				if _, err := os.Stat(q); err != nil {
					t.Errorf("quarantined file: %v", err)
				}
			}

			// Whatever happened, the agent can carry on: the next Save
			// and Load work and give the new state, and a second start
			// is clean (no crash loop).
			if fi, err := os.Stat(s.Path()); err == nil && fi.IsDir() {
				os.Remove(s.Path())
			}
			next := sampleEntries(42)
			if err := s.Save(next); err != nil {
				t.Fatalf("Save after Load: %v", err)
			}
			s2, err := Open(dir, discard)
			if err != nil {
				t.Fatal(err)
			}
			res, err = s2.Load()
			if err != nil || res.Cause != nil || res.Reset || !equalStates(res.Entries, canon(next)) {
				t.Fatalf("second start Load = %+v, %v", res, err)
			}
		})
	}
}

func write(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSaveCrashAtEveryStep crashes a Save at each of its filesystem
// operations and, for each, every state a power loss may leave behind; Load
// must then return the old or the new state without an error and without a
// reset.
func TestSaveCrashAtEveryStep(t *testing.T) {
	const dir = "/state"
	oldE, newE := canon(sampleEntries(1)), canon(sampleEntries(2))
	for _, history := range []string{"first save", "second save", "third save"} {
		t.Run(history, func(t *testing.T) {
			var prior [][]FileState // saves completed before the crashing one
			switch history {
			case "second save":
				prior = [][]FileState{oldE}
			case "third save":
				prior = [][]FileState{canon(sampleEntries(0)), oldE}
			}
			var before []FileState
			if len(prior) > 0 {
				before = prior[len(prior)-1]
			}
			completed := false
			for failAt := 1; !completed; failAt++ {
				m := newMemFS()
				s, err := openStore(dir, m, fixedClock())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Load(); err != nil {
					t.Fatal(err)
				}
				for _, p := range prior {
					if err := s.Save(p); err != nil {
						t.Fatal(err)
					}
				}
				m.mu.Lock()
				m.failAt, m.crash = m.step+failAt, true
				m.mu.Unlock()
				err = s.Save(newE)
				m.mu.Lock()
				completed = !m.crashed
				ops := slices.Clone(m.ops)
				m.mu.Unlock()
				if completed {
					if err != nil {
						t.Fatalf("Save without crash: %v", err)
					}
				} else if !errors.Is(err, errCrashed) {
					t.Fatalf("crash at step %d: Save = %v, want the crash error", failAt, err)
				}
				states := m.crashStates()
				for i, st := range states {
					checkRecovered(t, fmt.Sprintf("crash at step %d (%s), state %d %v", failAt, ops[len(ops)-1], i, sortedKeys(st)), dir, st, before, newE)
				}
			}
		})
	}
}

func fixedClock() func() time.Time {
	return func() time.Time { return time.Unix(1700000000, 0) }
}

func checkRecovered(t *testing.T, what, dir string, st map[string][]byte, before, after []FileState) {
	t.Helper()
	s, err := openStore(dir, newMemFSFrom(st), fixedClock())
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	res, err := s.Load()
	if err != nil {
		t.Fatalf("%s: Load error: %v", what, err)
	}
	if res.Reset {
		t.Fatalf("%s: Load reset (cause %v)", what, res.Cause)
	}
	if !equalStates(res.Entries, canon(before)) && !equalStates(res.Entries, after) {
		t.Fatalf("%s: Load = %+v, want old %+v or new %+v", what, res.Entries, before, after)
	}
	if err := s.Save(sampleEntries(77)); err != nil {
		t.Fatalf("%s: Save after recovery: %v", what, err)
	}
	res, err = s.Load()
	if err != nil || !equalStates(res.Entries, canon(sampleEntries(77))) {
		t.Fatalf("%s: Load after recovery save = %+v, %v", what, res, err)
	}
}

// TestSaveFaults injects persistent failures of one operation (the process
// keeps running): Save reports a wrapped error, the last good state stays
// loadable, no temporary file is left behind, and Save works again once the
// fault clears.
func TestSaveFaults(t *testing.T) {
	const dir = "/state"
	oldE, newE := canon(sampleEntries(1)), canon(sampleEntries(2))
	cases := []struct {
		op      string
		err     error
		newOK   bool // the new state may be what Load returns
		leftTmp bool
	}{
		{op: "create", err: syscall.ENOSPC},
		{op: "write", err: syscall.ENOSPC},
		{op: "sync", err: syscall.EIO},
		{op: "close", err: syscall.EIO},
		{op: "rename", err: syscall.EXDEV},
		{op: "syncdir", err: syscall.EIO, newOK: true},
	}
	for _, tc := range cases {
		t.Run(tc.op, func(t *testing.T) {
			m := newMemFS()
			s, err := openStore(dir, m, fixedClock())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Save(oldE); err != nil {
				t.Fatal(err)
			}
			m.setFailOp(tc.op, tc.err)
			err = s.Save(newE)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Save = %v, want %v", err, tc.err)
			}
			if !strings.HasPrefix(err.Error(), "checkpoint: save /state/checkpoints.json: ") {
				t.Fatalf("error without context: %v", err)
			}
			for _, n := range m.names() {
				if strings.Contains(n, ".tmp-") {
					t.Fatalf("temporary file left: %v", m.names())
				}
			}
			m.setFailOp(tc.op, nil)
			res, err := s.Load()
			if err != nil || res.Reset {
				t.Fatalf("Load after failed save = %+v, %v", res, err)
			}
			if !equalStates(res.Entries, oldE) && !(tc.newOK && equalStates(res.Entries, newE)) {
				t.Fatalf("Load after failed save = %+v, want old state", res.Entries)
			}
			// A fresh process sees the same.
			checkRecovered(t, "restart after fault", dir, m.crashStates()[0], oldE, newE)
			if err := s.Save(newE); err != nil {
				t.Fatalf("Save after fault cleared: %v", err)
			}
			if res, err := s.Load(); err != nil || !equalStates(res.Entries, newE) {
				t.Fatalf("Load = %+v, %v", res, err)
			}
		})
	}
}

// TestSaveKeepsPrevGood checks that a corrupt current file is never rotated
// into .prev over a good one.
func TestSaveKeepsPrevGood(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sampleEntries(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sampleEntries(2)); err != nil {
		t.Fatal(err)
	}
	// Corrupt the current file behind a fresh store's back, then save
	// without loading first.
	write(t, s.Path(), []byte("garbage"))
	s2, err := Open(dir, discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Save(sampleEntries(3)); err != nil {
		t.Fatal(err)
	}
	prev, err := ReadFile(s.Path() + PrevSuffix)
	if err != nil || !equalStates(prev, canon(sampleEntries(1))) {
		t.Fatalf(".prev = %+v, %v; want the last good state", prev, err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(mustEncode(f, sampleEntries(3)))
	f.Add(mustEncode(f, nil))
	f.Add([]byte(""))
	f.Add([]byte("{"))
	f.Add(envelope(1, `[{"pipeline":"p","offset":-5}]`))
	f.Add(envelope(1, `[{"pipeline":"p","fingerprint":"`+fp+`","updated":"2025-01-01T00:00:00Z"}]`))
	f.Add(envelope(2, `[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Anything accepted must survive a save and load unchanged.
		for i := range entries {
			if err := validate(&entries[i]); err != nil {
				t.Fatalf("accepted invalid entry %+v: %v", entries[i], err)
			}
		}
		c := canon(entries)
		out, err := encode(c)
		if err != nil {
			t.Fatalf("re-encode accepted entries: %v", err)
		}
		back, err := Decode(out)
		if err != nil || !equalStates(back, c) {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, c)
		}
	})
}
