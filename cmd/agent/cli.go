package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/logship/logship/internal/config"
)

// exitCodesHelp documents the exit codes; `logship help` and every
// `<command> -h` print it.
const exitCodesHelp = `exit codes:
  0  success
  1  runtime failure (the agent failed or could not start: a port taken, a
     checkpoint that cannot be written, a part of the agent that stopped)
  2  bad command line or bad configuration (systemd does not restart on it:
     RestartPreventExitStatus=2)
  3  status only: the agent is not reachable; the output is the last
     checkpoint of a stopped agent, not live state
`

// command is a sub-command's flag set with its help text.
type command struct {
	name     string
	synopsis string // after "usage: logship <name> "
	help     string // what it does, printed by -h
	fs       *flag.FlagSet
	config   *string // the -config flag, when configFlag added it
}

func newCommand(name, synopsis, help string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {} // parse prints the help or the hint itself
	return &command{name: name, synopsis: synopsis, help: help, fs: fs}
}

// configFlag adds the -config flag every command but version has.
func (c *command) configFlag() *string {
	c.config = c.fs.String("config", "agent.yaml", "configuration file")
	return c.config
}

// parseConfig parses args (see parse) and loads the configuration file
// named by -config (configFlag must have been called). It returns a nil
// config with the exit code when the command must not run: help (0), a
// usage error (2), or a configuration that does not load, its problems
// printed to stderr (2).
func (c *command) parseConfig(args []string, stdout, stderr io.Writer) (*config.Config, int) {
	if code, ok := c.parse(args, stdout, stderr); !ok {
		return nil, code
	}
	cfg, err := config.Load(*c.config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitUsage
	}
	return cfg, exitOK
}

// parse parses args. It returns ok=false with the exit code when the
// command must not run: -h or -help print the command's help to stdout
// (exit 0); an unknown flag or a positional argument is a usage error
// (exit 2). The configuration file is only ever given with -config: an
// extra argument is rejected, never ignored.
func (c *command) parse(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	c.fs.SetOutput(stderr) // flag reports bad flags there
	err := c.fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, "usage: logship %s %s\n\n%s\nflags:\n", c.name, c.synopsis, c.help)
		c.fs.SetOutput(stdout)
		c.fs.PrintDefaults()
		fmt.Fprintf(stdout, "\n%s", exitCodesHelp)
		return exitOK, false
	case err != nil:
		fmt.Fprintf(stderr, "run 'logship %s -h' for help\n", c.name)
		return exitUsage, false
	case c.fs.NArg() > 0:
		fmt.Fprintf(stderr, "logship %s: unexpected argument %q (the configuration file is given with -config FILE)\n",
			c.name, c.fs.Arg(0))
		fmt.Fprintf(stderr, "run 'logship %s -h' for help\n", c.name)
		return exitUsage, false
	}
	return exitOK, true
}
