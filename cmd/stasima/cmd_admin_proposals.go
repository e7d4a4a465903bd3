package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminProposalsCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "proposals",
		Short: "Every proposal's status (open, landed, closed; lands_behind)",
		Args:  cobra.NoArgs,
		RunE: a.query(func(ctx context.Context, c *busclient.Client, _ Config) (any, error) {
			var st schema.ProposalStatuses
			err := c.Query(ctx, bus.Capstore, schema.QProposalStatuses, nil, &st)
			return map[string]any{"proposals": st.Statuses}, err
		}),
	}
}
