package main

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminReindexCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "reindex",
		Short: "Rebuild the map index from the repository (progress bar on a terminal)",
		Args:  cobra.NoArgs,
		RunE: a.jsonRun(func(cmd *cobra.Command, _ Config, _ []string) (adminFunc, error) {
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			return func(ctx context.Context, c *busclient.Client) (any, error) {
				// S-34: a progress bar on a terminal (stderr; stdout stays one JSON object).
				b := newBar(newProgress(stdout, stderr))
				if stop, err := c.Progress(bus.Index, b.report); err == nil {
					defer stop()
				}
				defer b.finish()
				var res json.RawMessage
				err := c.Do(ctx, busclient.Command{Svc: bus.Index, Verb: schema.CmdIndexReindex, Data: struct{}{}}, &res)
				return res, err
			}, nil
		}),
	}
}
