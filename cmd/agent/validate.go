package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/logship/logship/internal/checkpoint"
)

// cmdValidate checks a configuration without touching any file or broker.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	c := newCommand("validate", "[-config FILE]", `Checks a configuration without touching any file or broker: every problem is
reported with its file and line. A valid configuration prints "ok" and the
effective pipelines.
`)
	path := c.configFlag()
	cfg, code := c.parseConfig(args, stdout, stderr)
	if cfg == nil {
		return code
	}
	fmt.Fprintf(stdout, "%s: ok\n", termSafe(*path))
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s: %s\n", termSafe(*path), w.Key, termSafe(w.Problem))
	}
	fmt.Fprint(stdout, cfg.Summary())
	return exitOK
}

// cmdCheckpoints lists the checkpoint store: files, identities, offsets and
// the bytes not yet shipped (current size minus committed offset).
func cmdCheckpoints(args []string, stdout, stderr io.Writer) int {
	c := newCommand("checkpoints", "[-config FILE] [-json]", `Lists the checkpoint file of agent.data_dir: per file its pipeline, path,
device:inode, committed offset, current size ("gone" when the file is no
longer there), unshipped bytes and when the entry was updated. Read-only,
safe while the agent runs.
`)
	c.configFlag()
	asJSON := c.fs.Bool("json", false, "print the entries as a JSON array (size -1: the file is gone)")
	cfg, code := c.parseConfig(args, stdout, stderr)
	if cfg == nil {
		return code
	}
	// Read-only: no recovery, no quarantine, so it is safe while the agent runs.
	entries, err := checkpoint.ReadFile(filepath.Join(cfg.Agent.DataDir, checkpoint.FileName))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	list := make([]checkpointEntry, 0, len(entries))
	for _, e := range entries {
		ce := checkpointEntry{Pipeline: e.Pipeline, Path: e.Path, Device: e.Device, Inode: e.Inode,
			Offset: e.Offset, Size: -1, Updated: e.Updated}
		if size, unshipped, ok := onDisk(e); ok {
			ce.Size, ce.Unshipped = size, unshipped
		}
		list = append(list, ce)
	}
	if *asJSON {
		if err := writeJSON(stdout, list); err != nil {
			return exitFailure
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tPATH\tDEVICE:INODE\tOFFSET\tSIZE\tUNSHIPPED\tUPDATED")
	for _, e := range list {
		size, unshipped := "gone", "-"
		if e.Size >= 0 {
			size, unshipped = fmt.Sprint(e.Size), fmt.Sprint(e.Unshipped)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d:%d\t%d\t%s\t%s\t%s\n", termSafe(e.Pipeline), termSafe(e.Path), e.Device, e.Inode, e.Offset,
			size, unshipped, e.Updated.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return exitFailure
	}
	return exitOK
}

// onDisk returns the current size of the file generation checkpointed in e
// and the bytes of it not yet shipped (size minus committed offset, never
// negative); ok is false when that file is gone (or replaced).
func onDisk(e checkpoint.FileState) (size, unshipped int64, ok bool) {
	st, err := os.Stat(e.Path)
	if err != nil || !sameFile(st, e) {
		return 0, 0, false
	}
	return st.Size(), max(st.Size()-e.Offset, 0), true
}

// writeJSON prints v as indented JSON, the -json output of checkpoints and
// status.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// checkpointEntry is one entry of `logship checkpoints`; -json prints them
// as an array.
type checkpointEntry struct {
	Pipeline  string    `json:"pipeline"`
	Path      string    `json:"path"`
	Device    uint64    `json:"device"`
	Inode     uint64    `json:"inode"`
	Offset    int64     `json:"offset"`
	Size      int64     `json:"size"` // -1: the file is gone
	Unshipped int64     `json:"unshipped"`
	Updated   time.Time `json:"updated"`
}
