package producer

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
// in a 0700 directory (see openFile), fsynced before the record's Ack is resolved, never
// beyond max bytes. The file is opened for each record (oversize records are
// rare), so an operator may move it away at any time; the size is taken
// from the file then. Safe for concurrent use by the partition senders.
type deadLetter struct {
	dir string
	max int64
	log *slog.Logger // nil: no warnings
	mu  sync.Mutex
	// warnedMode is set once a loose file mode was logged; guarded by mu.
	warnedMode bool
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
	path := filepath.Join(d.dir, DeadLetterFile)
	f, err := d.openFile(path)
	if err != nil {
		return err
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
