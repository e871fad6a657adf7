// Command logship follows log files and delivers every line to Apache Kafka
// at least once. main owns flags, the slog handler, signals, wiring and exit
// codes; nothing else calls os.Exit.
//
// Usage:
//
//	logship run         -config agent.yaml   ship logs until SIGTERM/SIGINT; SIGHUP reloads
//	logship validate    -config agent.yaml   check the configuration
//	logship checkpoints -config agent.yaml   list checkpointed files
//	logship status      -config agent.yaml   pipelines and files of the running agent
//	logship version
//
// Exit codes: 0 success, 1 runtime failure, 2 bad command line or
// configuration, 3 status showing the last checkpoint of an agent that is
// not reachable (exitCodesHelp).
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // bad command line or bad configuration
	exitStale   = 3 // status: the agent is not reachable; the last checkpoint is shown
)

// version and commitHash are set at build time with
// -ldflags "-X main.version=... -X main.commitHash=...".
var (
	version    = "dev"
	commitHash = ""
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "checkpoints":
		return cmdCheckpoints(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "logship %s (commit %s, %s)\n", version, commit(), goVersion())
		return exitOK
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "logship: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: logship <command> [flags]

commands:
  run         -config FILE   ship log lines to Kafka until SIGTERM or SIGINT; SIGHUP reloads
  validate    -config FILE   check a configuration and print the effective pipelines
  checkpoints -config FILE [-json]
                             list checkpointed files, offsets and unshipped bytes
  status      -config FILE [-json]
                             pipelines and files of the running agent (offset, size,
                             unshipped bytes, last acknowledgement, state); the last
                             checkpoint when the agent is not running (exit 3)
  version                    print version, commit and Go version

The configuration file is given with -config only (default agent.yaml);
other arguments are rejected. 'logship <command> -h' describes a command.

`+exitCodesHelp)
}

func commit() string {
	if commitHash != "" {
		return commitHash
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func goVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		return info.GoVersion
	}
	return "unknown"
}
