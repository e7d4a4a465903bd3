package main

import (
	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/busclient"
)

func newAdminWatchCmd(a *adminOpts) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Follow staged, reverted and landed proposals as they happen (until interrupted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.load()
			if err != nil {
				return adminRefusal(err)
			}
			if err := needDeployment(cfg); err != nil {
				return adminRefusal(err)
			}
			ctx := cmd.Context()
			_, err = withBackend(ctx, cfg, func(c *busclient.Client) (any, error) {
				return nil, watch(ctx, c, cfg, asJSON, cmd.OutOrStdout())
			})
			return adminRefusal(err)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw events, one JSON object a line")
	return cmd
}
