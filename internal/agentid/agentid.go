// Package agentid is the stable identity of one logship installation: a
// random 128-bit id created once in data_dir and read back at every start.
// It is part of the records' logship.source header, so that the same
// device and inode on two hosts never look like one file; a future
// exactly-once mode will key its producer state on it too.
package agentid

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File is the name of the id file in data_dir: 32 lowercase hex digits
// and a newline, mode 0600.
const File = "agent-id"

// Load returns the agent id stored in dir, creating it the first time. The
// creation is durable (file and directory fsynced) before the id is used,
// and exclusive, so concurrent first starts agree on one id. A file that
// does not hold a well-formed id is an error, never silently replaced: the
// id of records already shipped would change.
func Load(dir string) (string, error) {
	path := filepath.Join(dir, File)
	id, err := read(path)
	if !errors.Is(err, os.ErrNotExist) {
		return id, err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("agentid: random id: %w", err)
	}
	id = hex.EncodeToString(b[:])
	if err := create(path, id); errors.Is(err, os.ErrExist) {
		return read(path) // another process created it first
	} else if err != nil {
		return "", err
	}
	return id, nil
}

func read(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("agentid: %w", err)
	}
	id := strings.TrimSuffix(string(data), "\n")
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 || strings.ToLower(id) != id {
		return "", fmt.Errorf("agentid: %s does not hold a 32-digit lowercase hex id; restore it, or remove it to get a new id", path)
	}
	return id, nil
}

// create writes id to a temporary file, fsyncs it and links it to path
// (failing with os.ErrExist if path exists), then fsyncs the directory.
func create(path, id string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, File+".tmp*")
	if err != nil {
		return fmt.Errorf("agentid: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("agentid: %w", err)
	}
	if _, err := tmp.WriteString(id + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("agentid: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("agentid: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("agentid: close %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return err
		}
		return fmt.Errorf("agentid: create %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("agentid: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("agentid: sync %s: %w", dir, err)
	}
	return nil
}
