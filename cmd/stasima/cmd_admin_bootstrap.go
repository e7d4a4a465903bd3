package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/busclient"
)

func newAdminBootstrapCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "bootstrap <seed-dir>",
		Short: "Seed an empty canon from a folder of Markdown",
		Long: `Seed an empty canon from every .md file under <seed-dir> (UTF-8, universal newlines), wait for
the index and report the entries indexed (O-bootstrap-*). A file that is not UTF-8 fails the
whole bootstrap; nothing is written.`,
		Args: cobra.ExactArgs(1),
		RunE: a.jsonRun(func(_ *cobra.Command, cfg Config, args []string) (adminFunc, error) {
			files, err := readSeed(args[0])
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, c *busclient.Client) (any, error) {
				return adminBootstrap(ctx, c, cfg, args[0], files)
			}, nil
		}),
	}
}
