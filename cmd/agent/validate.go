package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
)

// loadConfig parses the -config flag of a sub-command and loads the file.
// On failure it prints the problems to stderr and returns a nil config and
// the exit code.
func loadConfig(cmd string, args []string, stderr io.Writer) (*config.Config, string, int) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "agent.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return nil, "", exitUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, "", exitUsage
	}
	return cfg, *path, exitOK
}

// cmdValidate checks a configuration without touching any file or broker.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	cfg, path, code := loadConfig("validate", args, stderr)
	if cfg == nil {
		return code
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s: %s\n", termSafe(path), w.Key, termSafe(w.Problem))
	}
	fmt.Fprint(stdout, cfg.Summary())
	return exitOK
}

// cmdCheckpoints lists the checkpoint store: files, identities, offsets and
// the bytes not yet shipped (current size minus committed offset).
func cmdCheckpoints(args []string, stdout, stderr io.Writer) int {
	cfg, _, code := loadConfig("checkpoints", args, stderr)
	if cfg == nil {
		return code
	}
	// Read-only: no recovery, no quarantine, so it is safe while the agent runs.
	entries, err := checkpoint.ReadFile(filepath.Join(cfg.Agent.DataDir, checkpoint.FileName))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tPATH\tDEVICE:INODE\tOFFSET\tSIZE\tUNSHIPPED\tUPDATED")
	for _, e := range entries {
		size, unshipped := "gone", "-"
		if st, err := os.Stat(e.Path); err == nil && sameFile(st, e) {
			size = fmt.Sprint(st.Size())
			unshipped = fmt.Sprint(max(st.Size()-e.Offset, 0))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d:%d\t%d\t%s\t%s\t%s\n", termSafe(e.Pipeline), termSafe(e.Path), e.Device, e.Inode, e.Offset,
			size, unshipped, e.Updated.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return exitFailure
	}
	return exitOK
}
