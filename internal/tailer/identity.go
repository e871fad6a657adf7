package tailer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// fingerprintMax is the number of leading bytes hashed into a file's
// fingerprint once the file is that long.
const fingerprintMax = 1024

// fileKey is the (device, inode) part of a file's identity.
type fileKey struct{ dev, ino uint64 }

// fileInfo is what the tailer needs from a stat call.
type fileInfo struct {
	key     fileKey
	size    int64
	regular bool
	nlink   uint64
}

// fstat stats an open file.
func fstat(f *os.File) (fileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileInfo{}, fmt.Errorf("fstat %s: %w", f.Name(), err)
	}
	return toFileInfo(fi)
}

// prefix reads the first n (<= fingerprintMax) bytes of f into buf. It fails
// when f holds fewer than n bytes (it was truncated meanwhile).
func prefix(f *os.File, n int, buf *[fingerprintMax]byte) ([]byte, error) {
	if n < 0 || n > fingerprintMax {
		return nil, fmt.Errorf("fingerprint length %d out of range", n)
	}
	got, err := f.ReadAt(buf[:n], 0)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = errShortFile
		}
		return nil, fmt.Errorf("read first bytes of %s: %w", f.Name(), err)
	}
	return buf[:n], nil
}

// fingerprint returns the hex SHA-256 of the first n bytes of f.
func fingerprint(f *os.File, n int) (string, error) {
	var buf [fingerprintMax]byte
	b, err := prefix(f, n, &buf)
	if err != nil {
		return "", err
	}
	return hashHex(b), nil
}

// hashHex is the fingerprint of b.
func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// errShortFile reports a file shorter than a length it had before.
var errShortFile = errors.New("file shorter than expected")

// emptyFingerprint is the fingerprint of a zero-length prefix.
var emptyFingerprint = hashHex(nil)

// verdict is the outcome of matching a known state against an open file.
type verdict int

const (
	resume    verdict = iota // same file: continue at the known offset
	truncated                // same file, now shorter than the offset: restart at 0
	different                // inode reused by another file: start at 0
)

// matchState decides whether the open file f (of size size) is the file
// generation described by fp/fpLen and whose next unread byte is offset.
// The identity holds when the first fpLen bytes of f still hash to fp.
func matchState(f *os.File, size int64, fp string, fpLen int, offset int64) verdict {
	same := false
	if int64(fpLen) <= size && fpLen >= 0 && fpLen <= fingerprintMax {
		got, err := fingerprint(f, fpLen)
		same = err == nil && got == fp
	}
	switch {
	case size < offset:
		// Shorter than what was read: truncated in place (copytruncate or
		// truncate), or a different file; either way everything is new.
		return truncated
	case same:
		return resume
	default:
		return different
	}
}
