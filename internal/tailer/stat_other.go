//go:build !unix

package tailer

import (
	"errors"
	"io/fs"
	"os"
)

// toFileInfo is not supported: file identity needs device and inode numbers.
func toFileInfo(fi fs.FileInfo) (fileInfo, error) {
	return fileInfo{}, errors.New("tailer: file identity needs a unix platform")
}

const openFlags = os.O_RDONLY
