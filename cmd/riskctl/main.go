// Command riskctl is the Riskwatch operator's CLI, what amtool and promtool
// are to Prometheus: send signals, read and set customer profiles, list
// the customers at risk, explain a score, follow, acknowledge and snooze
// alerts, check and unit-test rule files, and replay a signal file through
// the engine offline. Run `riskctl help` for the commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riskwatch/riskwatch/internal/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes: 0 success, 1 the command failed (a rejected signal, a
// failing rule test, an error from the service), 2 the command line is
// wrong.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env is what a command runs with: its streams, the global connection
// flags and a clock.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	conn           connOpts
	now            func() time.Time
}

// command is one riskctl command. Commands with a group ("customer set")
// are named by both words.
type command struct {
	name    string
	args    string // after the name in the usage line
	summary string
	help    string
	example string
	run     func(e *env, c *command, args []string) int
}

var commands = []*command{
	sendCmd,
	customerGetCmd,
	customerSetCmd,
	topCmd,
	explainCmd,
	outcomesCmd,
	alertsTailCmd,
	ackCmd,
	snoozeCmd,
	rulesCheckCmd,
	rulesTestCmd,
	rulesFeaturesCmd,
	replayCmd,
	backtestCmd,
	fitCmd,
	churnCmd,
	demoCmd,
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	global := flag.NewFlagSet("riskctl", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() {}
	e.conn.register(global, connOpts{timeout: defaultTimeout})
	version := global.Bool("version", false, "print riskctl's version and exit")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			overview(stdout, global)
			return exitOK
		}
		fmt.Fprintln(stderr, "run 'riskctl help' for the commands")
		return exitUsage
	}
	if *version {
		fmt.Fprintln(stdout, "riskctl", buildinfo.Get())
		return exitOK
	}
	rest := global.Args()
	if len(rest) == 0 {
		overview(stderr, global)
		return exitUsage
	}
	if rest[0] == "help" {
		if len(rest) == 1 {
			overview(stdout, global)
			return exitOK
		}
		c, n := lookup(rest[1:])
		if c == nil || n != len(rest)-1 {
			if group := groupCommands(rest[1]); len(group) > 0 && len(rest) == 2 {
				listGroup(stdout, rest[1], group)
				return exitOK
			}
			fmt.Fprintf(stderr, "riskctl: no command %q; run 'riskctl help' for the commands\n", strings.Join(rest[1:], " "))
			return exitUsage
		}
		return c.run(e, c, []string{"--help"})
	}
	c, n := lookup(rest)
	if c == nil {
		if group := groupCommands(rest[0]); len(group) > 0 {
			listGroup(stderr, rest[0], group)
			return exitUsage
		}
		fmt.Fprintf(stderr, "riskctl: unknown command %q; run 'riskctl help' for the commands\n", rest[0])
		return exitUsage
	}
	return c.run(e, c, rest[n:])
}

// lookup finds the command named by the first one or two words of args and
// how many words its name took.
func lookup(args []string) (*command, int) {
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return c, len(words)
		}
	}
	return nil, 0
}

func groupCommands(group string) []*command {
	var out []*command
	for _, c := range commands {
		if strings.HasPrefix(c.name, group+" ") {
			out = append(out, c)
		}
	}
	return out
}

func listGroup(w io.Writer, group string, cmds []*command) {
	fmt.Fprintf(w, "riskctl %s: want one of:\n", group)
	for _, c := range cmds {
		fmt.Fprintf(w, "  riskctl %-16s %s\n", c.name, c.summary)
	}
}

func overview(w io.Writer, global *flag.FlagSet) {
	fmt.Fprint(w, `riskctl is the Riskwatch operator's CLI.

Usage: riskctl [connection flags] <command> [flags] [args]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_ = tw.Flush()
	fmt.Fprint(w, `
Connection flags (before or after the command):
`)
	global.SetOutput(w)
	global.PrintDefaults()
	fmt.Fprint(w, `
Run 'riskctl <command> --help' (or 'riskctl help <command>') for a command's
flags and an example. Docs: docs/riskctl.md.
`)
}

// flags makes the flag set of command c. Errors go to stderr; --help is
// printed by parse.
func (e *env) flags(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("riskctl "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {}
	return fs
}

// parse parses args with fs, allowing flags after positional arguments
// ("riskctl explain acme --json"), and returns the positional arguments.
// ok is false when the command should return code: 0 after --help, 2 on a
// bad flag.
func (e *env) parse(fs *flag.FlagSet, c *command, args []string) (pos []string, code int, ok bool) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				e.help(fs, c)
				return nil, exitOK, false
			}
			fmt.Fprintf(e.stderr, "usage: riskctl %s %s\nrun 'riskctl %s --help' for the flags and an example\n", c.name, c.args, c.name)
			return nil, exitUsage, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return append(pos, tail...), 0, true
}

// help prints a command's description, usage, flags and example to stdout.
func (e *env) help(fs *flag.FlagSet, c *command) {
	w := e.stdout
	fmt.Fprintf(w, "riskctl %s: %s\n\nUsage: riskctl %s %s\n\n%s\n", c.name, c.summary, c.name, c.args, strings.TrimSpace(c.help))
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(e.stderr)
	}
	fmt.Fprintf(w, "\nExample:\n%s\n", indent(strings.TrimSpace(c.example), "  "))
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// usageError reports a wrong command line and returns exitUsage.
func (e *env) usageError(c *command, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "riskctl %s: %s\nusage: riskctl %s %s\n", c.name, fmt.Sprintf(format, args...), c.name, c.args)
	return exitUsage
}

// fail reports an error of command c and returns exitFail.
func (e *env) fail(c *command, err error) int {
	fmt.Fprintf(e.stderr, "riskctl %s: %v\n", c.name, err)
	return exitFail
}
