package checkpoint

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File names inside the checkpoint directory.
const (
	// FileName is the current checkpoint file.
	FileName = "checkpoints.json"
	// PrevSuffix names the previous good file kept by every Save.
	PrevSuffix = ".prev"
	// CorruptSuffix, followed by Unix nanoseconds, names a quarantined file.
	CorruptSuffix = ".corrupt-"
	tempPrefix    = FileName + ".tmp-"
)

// FormatVersion is the version of the checkpoint file format written by Save.
const FormatVersion = 1

// Limits applied by Load (and by Save, so it never writes what Load rejects).
const (
	MaxFileBytes      = 64 << 20 // larger files are rejected as corrupt
	MaxOffset         = 1 << 60  // bound for Offset and Size
	MaxFingerprintLen = 1 << 20
	maxStringBytes    = 64 << 10 // Pipeline and Path
)

var (
	// ErrCorrupt marks a checkpoint file that is unusable: empty, truncated,
	// unparseable, with a wrong checksum, an unknown version or hostile
	// values. Load recovers from it (see LoadResult); ReadFile returns it.
	ErrCorrupt = errors.New("checkpoint file corrupt")
	// ErrVersion additionally marks a file written in an unknown format
	// version (for example by a newer agent). It always comes with
	// ErrCorrupt.
	ErrVersion = errors.New("unsupported checkpoint format version")
	// ErrInsecureDir is returned by Open when the directory is a symlink,
	// world-writable or owned by another user: a configuration problem the
	// agent refuses rather than repairs.
	ErrInsecureDir = errors.New("unsafe checkpoint directory")
)

// Store is the durable checkpoint file checkpoints.json in one directory
// (mode 0700; files 0600). Save is crash-atomic and keeps the previous good
// file as checkpoints.json.prev; Load validates, falls back to the previous
// file, and quarantines corrupt files. Safe for concurrent use; operations
// are serialised.
type Store struct {
	dir      string
	dirPerm  fs.FileMode // dir's permission bits when opened
	path     string
	prevPath string
	fs       fileSystem
	now      func() time.Time

	mu  sync.Mutex
	cur curState // what is known about the file at path
}

type curState int

const (
	curUnknown curState = iota // not inspected yet: Save probes it once
	curGood                    // decodes: Save moves it to .prev
	curAbsent                  // missing or unusable: Save overwrites it, keeping .prev
)

// Open prepares dir as the checkpoint directory (see prepareDir: it is
// created 0700 when missing; an existing one is never changed, and one that
// is a symlink, world-writable or owned by another user is refused with an
// error wrapping ErrInsecureDir; one accessible to group or others is
// logged as a warning on log) and removes temporary files left by a save
// interrupted by a crash. It does not read the checkpoint; call Load. Open
// is called once, from main.
func Open(dir string, log *slog.Logger) (*Store, error) {
	s, err := openStore(dir, osFS{}, time.Now)
	if err != nil {
		return nil, err
	}
	if s.dirPerm&0o077 != 0 {
		log.Warn("checkpoint directory is accessible to group or others", "dir", s.dir, "mode", s.dirPerm)
	}
	return s, nil
}

func openStore(dir string, fsys fileSystem, now func() time.Time) (*Store, error) {
	if dir == "" {
		return nil, errors.New("checkpoint: open: empty directory")
	}
	dir = filepath.Clean(dir)
	perm, err := prepareDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", dir, err)
	}
	names, err := fsys.ReadDirNames(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", dir, err)
	}
	for _, name := range names {
		if strings.HasPrefix(name, tempPrefix) {
			_ = fsys.Remove(filepath.Join(dir, name)) // best effort; never read
		}
	}
	path := filepath.Join(dir, FileName)
	return &Store{dir: dir, dirPerm: perm, path: path, prevPath: path + PrevSuffix, fs: fsys, now: now}, nil
}

// Path is the path of the current checkpoint file.
func (s *Store) Path() string { return s.path }

// LoadResult is what Load found. A clean load sets only Entries.
type LoadResult struct {
	// Entries are the checkpoints to resume from, sorted.
	Entries []FileState
	// RecoveredFrom is the path Entries came from when the current file was
	// missing (a save interrupted between its renames) or unusable (then
	// Cause says why): the previous good file. Entries may be one save
	// interval older than the last save: records since are re-delivered.
	RecoveredFrom string
	// Reset is true when checkpoint files existed but none was usable:
	// Entries is empty, every file is read again from its beginning
	// (duplicates, never loss). The caller logs Cause as an error.
	Reset bool
	// Quarantined lists the unusable files moved aside as
	// checkpoints.json[.prev].corrupt-<unix-nanos>, kept for inspection.
	Quarantined []string
	// Cause is why the current (or previous) file was not used, non-nil
	// whenever Reset is set or RecoveredFrom follows a corrupt or unreadable
	// current file; it wraps ErrCorrupt for corruption. Problems moving
	// files aside are joined to it.
	Cause error
}

// Load reads the checkpoint with a defined recovery that never needs an
// operator to start again:
//
//   - current file good: its entries;
//   - no files at all: no entries (first start);
//   - current missing or corrupt, previous good: the previous entries
//     (RecoveredFrom), a corrupt current file quarantined;
//   - nothing usable: corrupt files quarantined, Reset with no entries.
//
// The returned error is non-nil only when a file exists but cannot be read
// (permissions, I/O errors) and no good previous file exists: the state is
// unknown, so the caller should report it and stop rather than re-ship
// everything. Load is called once at start-up, before any Save.
func (s *Store) Load() (LoadResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	cur, curErr := s.readLocked(s.path)
	if curErr == nil {
		s.cur = curGood
		return LoadResult{Entries: cur}, nil
	}
	s.cur = curAbsent
	curMissing := errors.Is(curErr, fs.ErrNotExist)
	curCorrupt := errors.Is(curErr, ErrCorrupt)

	var res LoadResult
	if !curMissing {
		res.Cause = curErr
	}
	if curCorrupt {
		s.quarantineLocked(s.path, &res)
	}

	prev, prevErr := s.readLocked(s.prevPath)
	switch {
	case prevErr == nil:
		res.Entries = prev
		res.RecoveredFrom = s.prevPath
	case errors.Is(prevErr, fs.ErrNotExist):
		if curMissing {
			return LoadResult{}, nil // first start
		}
		if !curCorrupt {
			return LoadResult{}, fmt.Errorf("checkpoint: load %s: %w", s.path, curErr)
		}
		res.Reset = true
	case errors.Is(prevErr, ErrCorrupt):
		if !curMissing && !curCorrupt {
			// The current file may well be fine; only its reading failed.
			return LoadResult{}, fmt.Errorf("checkpoint: load %s: %w", s.path, curErr)
		}
		res.Cause = errors.Join(res.Cause, prevErr)
		s.quarantineLocked(s.prevPath, &res)
		res.Reset = true
	default:
		return LoadResult{}, fmt.Errorf("checkpoint: load %s: %w", s.prevPath, prevErr)
	}
	if len(res.Quarantined) > 0 {
		if err := s.fs.SyncDir(s.dir); err != nil {
			res.Cause = errors.Join(res.Cause, fmt.Errorf("checkpoint: sync %s: %w", s.dir, err))
		}
	}
	return res, nil
}

// quarantineLocked moves an unusable file aside, recording the outcome.
func (s *Store) quarantineLocked(path string, res *LoadResult) {
	dst := path + CorruptSuffix + strconv.FormatInt(s.now().UnixNano(), 10)
	if err := s.fs.Rename(path, dst); err != nil {
		res.Cause = errors.Join(res.Cause, fmt.Errorf("checkpoint: quarantine %s: %w", path, err))
		return
	}
	res.Quarantined = append(res.Quarantined, dst)
}

// readLocked reads and decodes one file. Errors wrap fs.ErrNotExist,
// ErrCorrupt, or the I/O error, with the path.
func (s *Store) readLocked(path string) ([]FileState, error) {
	data, err := s.fs.ReadFile(path, MaxFileBytes)
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("checkpoint: load %s: %w: larger than %d bytes", path, ErrCorrupt, MaxFileBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: load %s: %w", path, err)
	}
	entries, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: load %s: %w", path, err)
	}
	sortEntries(entries)
	return entries, nil
}

// ReadFile reads and validates one checkpoint file without recovery or side
// effects (for the "checkpoints" sub-command). Errors wrap fs.ErrNotExist,
// ErrCorrupt, or the I/O error.
func ReadFile(path string) ([]FileState, error) {
	s := &Store{fs: osFS{}}
	return s.readLocked(path)
}

// Save writes entries crash-atomically: a temporary file (0600) in the same
// directory is written and fsynced, the current file (if it was good) becomes
// checkpoints.json.prev, the temporary file is renamed over the current one,
// and the directory is fsynced. After a crash at any point Load returns the
// old or the new state. Entries are validated and written sorted; the
// caller's slice is not modified.
//
// A non-nil error (wrapped as "checkpoint: save PATH: ...") means the new
// state may not be durable; the last good state remains loadable and the
// caller retries on its next interval. Called from the Flusher.
func (s *Store) Save(entries []FileState) error {
	sorted := slices.Clone(entries)
	sortEntries(sorted)
	data, err := encode(sorted)
	if err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writeLocked(data); err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) writeLocked(data []byte) (err error) {
	f, err := s.fs.CreateTemp(s.dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = s.fs.Remove(tmp) // best effort; Open removes leftovers too
		}
	}()
	n, err := f.Write(data)
	if err == nil && n < len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}

	if s.cur == curUnknown {
		s.cur = curAbsent
		if old, err := s.fs.ReadFile(s.path, MaxFileBytes); err == nil {
			if _, err := Decode(old); err == nil {
				s.cur = curGood
			}
		}
	}
	rotated := false
	if s.cur == curGood {
		// Keep the previous good state. A crash between this rename and
		// the next leaves only .prev, which Load uses.
		switch err := s.fs.Rename(s.path, s.prevPath); {
		case err == nil:
			rotated = true
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("keep previous file: %w", err)
		}
		s.cur = curAbsent
	}
	if err := s.fs.Rename(tmp, s.path); err != nil {
		if rotated && s.fs.Rename(s.prevPath, s.path) == nil {
			s.cur = curGood
		}
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	renamed = true
	s.cur = curGood
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("fsync directory %s: %w", s.dir, err)
	}
	return nil
}

// fileFormat is the on-disk envelope. Checksum covers the exact bytes of
// Entries as written.
type fileFormat struct {
	Version  int             `json:"version"`
	Checksum string          `json:"checksum"`
	Entries  json.RawMessage `json:"entries"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) string {
	return fmt.Sprintf("crc32c:%08x", crc32.Checksum(b, castagnoli))
}

// encode validates sorted entries and renders the file.
func encode(entries []FileState) ([]byte, error) {
	for i := range entries {
		if err := validate(&entries[i]); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
	}
	if entries == nil {
		entries = []FileState{}
	}
	raw, err := json.Marshal(entries)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	out, err := json.Marshal(fileFormat{Version: FormatVersion, Checksum: checksum(raw), Entries: raw})
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if len(out)+1 > MaxFileBytes {
		return nil, fmt.Errorf("encode: %d entries exceed %d bytes", len(entries), MaxFileBytes)
	}
	return append(out, '\n'), nil
}

// Decode parses and validates the contents of a checkpoint file. Every error
// wraps ErrCorrupt (and ErrVersion for an unknown format version). It never
// panics, whatever the input.
func Decode(data []byte) ([]FileState, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrCorrupt, MaxFileBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrCorrupt)
	}
	var ff fileFormat
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ff); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the checkpoint object", ErrCorrupt)
	}
	if ff.Version == 0 {
		return nil, fmt.Errorf("%w: no format version", ErrCorrupt)
	}
	if ff.Version != FormatVersion {
		return nil, fmt.Errorf("%w: %w %d (want %d)", ErrCorrupt, ErrVersion, ff.Version, FormatVersion)
	}
	if got := checksum(ff.Entries); ff.Checksum != got {
		return nil, fmt.Errorf("%w: checksum %q does not match contents (%s)", ErrCorrupt, ff.Checksum, got)
	}
	if len(ff.Entries) == 0 || ff.Entries[0] != '[' {
		return nil, fmt.Errorf("%w: entries is not an array", ErrCorrupt)
	}
	var entries []FileState
	dec = json.NewDecoder(bytes.NewReader(ff.Entries))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("%w: entries: %w", ErrCorrupt, err)
	}
	for i := range entries {
		if err := validate(&entries[i]); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrCorrupt, i, err)
		}
	}
	if entries == nil {
		entries = []FileState{}
	}
	return entries, nil
}

// validate rejects values no tailer produces, so hostile files cannot steer
// offsets or allocations.
func validate(e *FileState) error {
	switch {
	case e.Offset < 0 || e.Offset > MaxOffset:
		return fmt.Errorf("offset %d out of range [0, %d]", e.Offset, int64(MaxOffset))
	case e.Size < 0 || e.Size > MaxOffset:
		return fmt.Errorf("size %d out of range [0, %d]", e.Size, int64(MaxOffset))
	case e.FingerprintLen < 0 || e.FingerprintLen > MaxFingerprintLen:
		return fmt.Errorf("fingerprint_len %d out of range [0, %d]", e.FingerprintLen, MaxFingerprintLen)
	case len(e.Pipeline) > maxStringBytes:
		return fmt.Errorf("pipeline name longer than %d bytes", maxStringBytes)
	case len(e.Path) > maxStringBytes:
		return fmt.Errorf("path longer than %d bytes", maxStringBytes)
	}
	if e.Fingerprint != "" {
		if b, err := hex.DecodeString(e.Fingerprint); err != nil || len(b) != 32 {
			return fmt.Errorf("fingerprint %.80q is not a hex SHA-256", e.Fingerprint)
		}
	}
	return nil
}

// sortEntries orders entries deterministically by identity, then path and
// offset.
func sortEntries(entries []FileState) {
	slices.SortFunc(entries, func(a, b FileState) int {
		return cmp.Or(
			cmp.Compare(a.Pipeline, b.Pipeline),
			cmp.Compare(a.Device, b.Device),
			cmp.Compare(a.Inode, b.Inode),
			cmp.Compare(a.Fingerprint, b.Fingerprint),
			cmp.Compare(a.FingerprintLen, b.FingerprintLen),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Offset, b.Offset),
			cmp.Compare(a.Size, b.Size),
			a.Updated.Compare(b.Updated),
		)
	})
}
