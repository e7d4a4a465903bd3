// Command stasima is Stasima's one binary: `up` runs every service in one process on an embedded
// NATS JetStream server; `serve <service>` runs one service against an external bus; `admin …`
// is the practitioner's CLI. The command line is built with spf13/cobra, a command per
// cmd_*.go file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks a usage error (exit 2, O-cli-2).
var errUsage = errors.New("usage")

// refusal is an error a command's action returned once its arguments were accepted: the
// refusal on stderr, exit 1 (O-cli-2). Every other error out of the command tree (an unknown
// command or flag, a wrong number of arguments) is a usage error, exit 2.
type refusal struct {
	err    error
	prefix string // "stasima: " for the top-level commands; admin prints the bare refusal
}

func (r refusal) Error() string { return r.prefix + r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

// refuse marks err as a top-level command's refusal; nil stays nil and a usage error stays one.
func refuse(err error) error {
	if err == nil || errors.Is(err, errUsage) {
		return err
	}
	return refusal{err: err, prefix: "stasima: "}
}

// usageError is a usage error of one command, shown with that command's help hint.
type usageError struct {
	cmd *cobra.Command
	err error
	// full prints the command's whole usage after the error (a group called without a command).
	full bool
}

func (u usageError) Error() string   { return u.err.Error() }
func (u usageError) Unwrap() []error { return []error{u.err, errUsage} }

// run executes the command line args and returns the exit code: 0 done (and every --help),
// 1 a refusal, 2 a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(os.Stdin)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var r refusal
	if errors.As(err, &r) && !errors.Is(err, errUsage) {
		fmt.Fprintln(stderr, r.Error())
		return 1
	}
	var u usageError
	if errors.As(err, &u) {
		cmd = u.cmd
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	if u.full {
		fmt.Fprint(stderr, cmd.UsageString())
	} else {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return 2
}

// groupRun is the action of a command that only groups subcommands (stasima, admin, serve,
// admin oauth): without a subcommand, or with an unknown one, it is a usage error.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageError{cmd: cmd, err: errors.New("a command is needed"), full: true}
	}
	return usageError{cmd: cmd, err: fmt.Errorf("unknown command %q", args[0])}
}

// flagError makes every flag parsing error a usage error of its command.
func flagError(cmd *cobra.Command, err error) error {
	return usageError{cmd: cmd, err: err}
}
