package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/busclient"
)

func newAdminMirrorCmd(a *adminOpts) *cobra.Command {
	var stage string
	cmd := &cobra.Command{
		Use:   "mirror <url>",
		Short: "Push a backup of the deployment to a remote git URL",
		Args:  cobra.ExactArgs(1),
		RunE: a.jsonRun(func(cmd *cobra.Command, cfg Config, args []string) (adminFunc, error) {
			p := newProgress(cmd.OutOrStdout(), cmd.ErrOrStderr())
			return func(ctx context.Context, c *busclient.Client) (any, error) {
				dir := stage
				if dir == "" {
					dir = os.TempDir()
				}
				return adminMirror(ctx, c, cfg, args[0], dir, p)
			}, nil
		}),
	}
	cmd.Flags().StringVar(&stage, "stage", "", "directory both the audit service and capstore can reach (default: the temp dir; compose: /backup)")
	return cmd
}
