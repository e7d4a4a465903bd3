package main

import (
	"github.com/spf13/cobra"
)

func newStdioCmd() *cobra.Command {
	var f commonFlags
	cmd := &cobra.Command{
		Use:   "stdio",
		Short: "One MCP gateway on stdin/stdout (starts `stasima up` when none runs)",
		Long: `One MCP gateway for the spawning client over stdin/stdout, joined to the running backend of
the data dir over the bus, started detached with ` + "`stasima up`" + ` when none answers (identity.md
I-52). stdout carries MCP frames only; logs go to stderr. The session binding comes from the
environment: STASIMA_INSTANCE (pinned seat) or STASIMA_PORT (port-durable token).`,
		Example: `  claude mcp add stasima -- stasima stdio --data ~/stasima-data`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return refuse(cmdStdio(cmd.Context(), f, cmd.ErrOrStderr()))
		},
	}
	f.bind(cmd.Flags(), "")
	return cmd
}
