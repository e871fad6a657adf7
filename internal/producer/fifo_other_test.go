//go:build !unix

package producer

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs on this platform") }
