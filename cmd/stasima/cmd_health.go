package main

import (
	"github.com/spf13/cobra"
)

func newHealthCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Probe a serve process's /healthz (exit 0 when healthy)",
		Long: `Probe the /healthz of a ` + "`stasima serve`" + ` process (the compose healthcheck: the image has
no shell or curl). Exit 0 and the answer on stdout when healthy, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return refuse(cmdHealth(cmd.Context(), addr, cmd.OutOrStdout()))
		},
	}
	cmd.Flags().StringVar(&addr, "addr", defaultOpsAddr, "host:port of the serve process's ops listener")
	return cmd
}
