package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/busclient"
)

func newAdminPreviewCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "preview <proposal-id>",
		Short: "Dry-run merge of a proposal: typed delta, log entry check, expected seq",
		Args:  cobra.ExactArgs(1),
		RunE: a.jsonRun(func(_ *cobra.Command, _ Config, args []string) (adminFunc, error) {
			return func(ctx context.Context, c *busclient.Client) (any, error) { return adminPreview(ctx, c, args[0]) }, nil
		}),
	}
}
