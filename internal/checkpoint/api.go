// Package checkpoint turns broker acknowledgements into durable file offsets.
//
// A Tracker follows one file generation: the reader registers every line (or
// line part) it hands to the pipeline with Add, in file order; the pipeline
// calls Ack.Done once the broker has returned RecordMetadata for that record,
// or Ack.Abandon when whoever holds the token can no longer deliver it (the
// line is then read again from the committed offset; its bytes go back to the
// budget at once). Committed is the end offset of the longest contiguous
// prefix of acknowledged lines — never beyond it, never past an abandoned one. The Budget bounds the bytes read but not yet
// acknowledged across all trackers; readers Acquire before reading and
// trackers Release as acknowledgements arrive. The Store persists FileState
// entries crash-atomically, and the Flusher saves the merged snapshot of the
// pipelines' entries periodically and once more at shutdown.
package checkpoint

import "time"

// FileState is one persisted checkpoint entry: the identity of a file
// generation and the offset up to which everything was acknowledged.
type FileState struct {
	Pipeline       string    `json:"pipeline"`
	Path           string    `json:"path"` // last path seen; informative, not identity
	Device         uint64    `json:"device"`
	Inode          uint64    `json:"inode"`
	Fingerprint    string    `json:"fingerprint"` // hex SHA-256 of the first FingerprintLen bytes
	FingerprintLen int       `json:"fingerprint_len"`
	Offset         int64     `json:"offset"` // committed offset
	Size           int64     `json:"size"`   // file size when last seen (for unshipped bytes)
	Updated        time.Time `json:"updated"`
}
