package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminCloseCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:     "close <proposal-id> <reason>...",
		Short:   "Close (tombstone) a proposal with a reason",
		Example: `  stasima admin close p-1 "superseded by p-2"`,
		Args:    cobra.MinimumNArgs(2),
		RunE: a.jsonRun(func(_ *cobra.Command, _ Config, args []string) (adminFunc, error) {
			id, reason := args[0], strings.Join(args[1:], " ")
			return func(ctx context.Context, c *busclient.Client) (any, error) {
				var res schema.ProposeCloseResult
				err := c.Do(ctx, busclient.Command{Svc: bus.Capstore, Verb: schema.CmdProposeClose, ID: "close/" + id + "/" + ulidString(),
					Data: schema.ProposeClose{Actor: schema.Actor{Seat: "practitioner"}, ProposalID: id, Reason: reason, Approver: true}}, &res)
				return res, err
			}, nil
		}),
	}
}
