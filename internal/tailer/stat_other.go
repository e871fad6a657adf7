//go:build !unix

package tailer

import (
	"errors"
	"io/fs"
)

// toFileInfo is not supported: file identity needs device and inode numbers.
func toFileInfo(fi fs.FileInfo) (fileInfo, error) {
	return fileInfo{}, errors.New("tailer: file identity needs a unix platform")
}

// fdLimit is unknown on this platform.
func fdLimit() int { return 0 }

// tooManyFiles is never detected on this platform.
func tooManyFiles(error) bool { return false }
