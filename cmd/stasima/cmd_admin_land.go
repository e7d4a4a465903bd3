package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminLandCmd(a *adminOpts) *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:   "land <proposal-id>",
		Short: "Land a proposal: merge, one log entry, canon CAS, state tag, audit row, anchor",
		Long: `Land a proposal on canon as the approver --by (default: the first approver of the config):
merge candidate, one log entry, canon compare-and-swap, state tag, audit row, anchor. Refusals
say "conflict — not landing", "append-only — not landing" or "not landing" (O-land-2, O-land-3).`,
		Example: "  stasima admin land p-1 --by practitioner",
		Args:    cobra.ExactArgs(1),
		RunE: a.jsonRun(func(_ *cobra.Command, cfg Config, args []string) (adminFunc, error) {
			id, approver := args[0], by
			if approver == "" {
				approver = cfg.Approvers[0]
			}
			return func(ctx context.Context, c *busclient.Client) (any, error) {
				var res schema.LandResult
				err := c.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdLand, ID: "land/" + id + "/" + ulidString(),
					Data: schema.Land{Actor: schema.Actor{Seat: approver}, ProposalID: id, ApprovedBy: approver, Evidence: "cli-confirm"}}, &res)
				return res, landRefusal(err)
			}, nil
		}),
	}
	cmd.Flags().StringVar(&by, "by", "", "approver who lands it (default: the first approver)")
	return cmd
}
