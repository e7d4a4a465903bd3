package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/busclient"
)

func newAdminBackupCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "backup <dest>",
		Short: "Back up the repository, the audit log and the config into <dest>",
		Args:  cobra.ExactArgs(1),
		RunE: a.jsonRun(func(cmd *cobra.Command, cfg Config, args []string) (adminFunc, error) {
			p := newProgress(cmd.OutOrStdout(), cmd.ErrOrStderr())
			return func(ctx context.Context, c *busclient.Client) (any, error) {
				return adminBackup(ctx, c, cfg, args[0], p)
			}, nil
		}),
	}
}
