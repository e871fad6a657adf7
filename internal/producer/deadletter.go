package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DeadLetterFile is the name of the dead-letter file in its directory.
const DeadLetterFile = "dead-letter.jsonl"

// errDeadLetterFull is returned by deadLetter.write when the record would
// take the file beyond its cap.
var errDeadLetterFull = errors.New("producer: dead-letter file full")

// deadLetter appends records the oversize policy keeps out of Kafka to
// DeadLetterFile: one JSON object per line (DeadLetterEntry), the file 0600
// in a 0700 directory, never beyond max bytes. write returns nil, and the
// record's Ack is resolved, only once its line is whole and durable: the
// line fsynced, and the creation of the file and of its directory fsynced
// in their parents. A failed write or fsync is cut back off the file; a
// torn last line left by a crash (or a failed cut) is cut back to the last
// newline when the file is next opened, so every line is a whole entry. The file is opened for each record (oversize records are
// rare), so an operator may move it away at any time; the size is taken
// from the file then. Safe for concurrent use by the partition senders.
type deadLetter struct {
	dir string
	max int64
	mu  sync.Mutex
	// openFile opens the dead-letter file: os.OpenFile except in tests
	// that inject write and sync faults.
	openFile func(name string, flag int, perm os.FileMode) (deadLetterFile, error)
	// syncDir fsyncs a directory: syncDirectory except in tests.
	syncDir func(dir string) error
	log     *slog.Logger // nil: no warnings
	// warnedMode is set once a loose file mode was logged; guarded by mu.
	warnedMode bool
}

// deadLetterFile is the part of *os.File the dead-letter writer uses.
type deadLetterFile interface {
	io.Writer
	io.ReaderAt
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
	Sync() error
	Close() error
}

func openDeadLetterFile(name string, flag int, perm os.FileMode) (deadLetterFile, error) {
	return os.OpenFile(name, flag, perm)
}

// DeadLetterEntry is one line of the dead-letter file. Key and Value are
// base64 in the JSON (Go's encoding of []byte).
type DeadLetterEntry struct {
	Time      time.Time          `json:"time"`
	Topic     string             `json:"topic"`
	Partition int                `json:"partition"`
	Reason    string             `json:"reason"`
	Error     string             `json:"error"`
	Key       []byte             `json:"key"`
	Value     []byte             `json:"value"`
	Headers   []DeadLetterHeader `json:"headers,omitempty"`
}

// DeadLetterHeader is a record header in a DeadLetterEntry.
type DeadLetterHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (d *deadLetter) write(tp topicPartition, r *Record, reason string, cause error) error {
	e := DeadLetterEntry{Time: time.Now().UTC(), Topic: tp.topic, Partition: tp.partition, Reason: reason,
		Key: r.Key, Value: r.Value}
	if cause != nil {
		e.Error = cause.Error()
	}
	for _, h := range r.Headers {
		e.Headers = append(e.Headers, DeadLetterHeader{Key: h.Key, Value: string(h.Value)})
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("producer: dead-letter entry: %w", err)
	}
	line = append(line, '\n')

	d.mu.Lock()
	defer d.mu.Unlock()
	f, path, err := d.open()
	if err != nil {
		return err
	}
	size, err := d.repair(f, path)
	if err != nil {
		f.Close()
		return err
	}
	if size+int64(len(line)) > d.max {
		f.Close()
		return fmt.Errorf("%w: %s holds %d bytes, cap %d, entry %d", errDeadLetterFull, path, size, d.max, len(line))
	}
	if _, err := f.Write(line); err != nil {
		d.rollback(f, size)
		f.Close()
		return fmt.Errorf("producer: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		d.rollback(f, size)
		f.Close()
		return fmt.Errorf("producer: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("producer: close %s: %w", path, err)
	}
	return nil
}

// repair returns the size of f's whole lines, first cutting back a torn
// last line (a crash mid-write, or a failed rollback) to the last newline
// and making that durable.
func (d *deadLetter) repair(f deadLetterFile, path string) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("producer: stat %s: %w", path, err)
	}
	size := st.Size()
	whole, err := wholeLines(f, size)
	if err != nil {
		return 0, fmt.Errorf("producer: read %s: %w", path, err)
	}
	if whole == size {
		return size, nil
	}
	if err := f.Truncate(whole); err != nil {
		return 0, fmt.Errorf("producer: cut the torn line of %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("producer: sync %s: %w", path, err)
	}
	d.log.Warn("dead-letter file ended in a torn line, cut back to the last whole line",
		"path", path, "removed_bytes", size-whole)
	return whole, nil
}

// wholeLines returns the length of the prefix of f's size bytes that ends
// with its last newline (0 if it has none).
func wholeLines(f io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// rollback cuts f back to size after a failed write or fsync, so that no
// part of the entry stays behind. If that fails too, the torn tail is
// repaired on the next open.
func (d *deadLetter) rollback(f deadLetterFile, size int64) {
	if err := f.Truncate(size); err == nil {
		_ = f.Sync() // best effort: repair covers a tail that comes back
	}
}

// syncDirectory fsyncs dir, making the creation of its entries durable.
func syncDirectory(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
