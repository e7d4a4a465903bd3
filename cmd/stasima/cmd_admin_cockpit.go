package main

import (
	"github.com/spf13/cobra"
)

func newAdminCockpitCmd(a *adminOpts) *cobra.Command {
	var addr string
	var open bool
	cmd := &cobra.Command{
		Use:   "cockpit",
		Short: "The practitioner's web page: proposals, review, land, close, airlock, inbox, audit, seats, search",
		Long: `Serve the practitioner's web page on a loopback address over the admin's bus connection,
print its start URL with a one-time token, and serve until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.load()
			if err != nil {
				return adminRefusal(err)
			}
			return adminRefusal(cmdCockpit(cmd.Context(), cfg, addr, open, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	cmd.Flags().StringVar(&addr, "http", defaultCockpitAddr, "loopback address to serve on")
	cmd.Flags().BoolVar(&open, "open", false, "open the start URL in a browser")
	return cmd
}
