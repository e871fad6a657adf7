package producer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
// in a 0700 directory, fsynced before the record's Ack is resolved, never
// beyond max bytes. The file is opened for each record (oversize records are
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
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return fmt.Errorf("producer: dead-letter dir: %w", err)
	}
	path := filepath.Join(d.dir, DeadLetterFile)
	f, err := d.openFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("producer: open dead-letter file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("producer: stat %s: %w", path, err)
	}
	if st.Size()+int64(len(line)) > d.max {
		f.Close()
		return fmt.Errorf("%w: %s holds %d bytes, cap %d, entry %d", errDeadLetterFull, path, st.Size(), d.max, len(line))
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("producer: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("producer: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("producer: close %s: %w", path, err)
	}
	return nil
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
