//go:build !unix

package tailer

import (
	"errors"
	"os"
)

// open is not supported: the tailer needs a unix platform (see toFileInfo).
func (c *confiner) open(path string) (*os.File, error) {
	return nil, errors.New("tailer: confined open needs a unix platform")
}

// stat is not supported: the tailer needs a unix platform.
func (c *confiner) stat(path string) (fileInfo, error) {
	return fileInfo{}, errors.New("tailer: confined stat needs a unix platform")
}
