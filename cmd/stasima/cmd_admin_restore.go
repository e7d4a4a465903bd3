package main

import (
	"github.com/spf13/cobra"
)

func newAdminRestoreCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "restore <backup-dir>",
		Short: "Rebuild the deployment of the data dir from a backup (nothing may be running)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.load()
			if err != nil {
				return adminRefusal(err)
			}
			out, err := adminRestore(cmd.Context(), cfg, args[0], newProgress(cmd.OutOrStdout(), cmd.ErrOrStderr()))
			if err != nil {
				return adminRefusal(err)
			}
			printJSON(cmd, out)
			return nil
		},
	}
}
