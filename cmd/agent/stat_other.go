//go:build !unix

package main

import (
	"os"

	"github.com/logship/logship/internal/checkpoint"
)

// sameFile cannot tell without device and inode numbers: the file is shown
// as gone (the tailer does not run on such platforms either).
func sameFile(os.FileInfo, checkpoint.FileState) bool { return false }
