package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

// newAdminOAuthCmd is `stasima admin oauth pending | approve <txn> --confirm <name>`
// (O-oauth-1): the console channel of the OAuth door, over the gateway's admin-only subjects
// (I-66). It needs the running gateway: pending approvals live in the door a browser is polling.
func newAdminOAuthCmd(a *adminOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "oauth <command>",
		Short: "The OAuth door's console channel: pending approvals, approve one",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	pending := &cobra.Command{
		Use:   "pending",
		Short: "List the authorizations waiting for the practitioner's approval",
		Args:  cobra.NoArgs,
		RunE: a.query(func(ctx context.Context, c *busclient.Client, _ Config) (any, error) {
			var res schema.OAuthPending
			return res, gatewayErr(c.Query(ctx, bus.Gateway, schema.QOAuthPending, nil, &res))
		}),
	}
	var confirm string
	approve := &cobra.Command{
		Use:     "approve <txn> --confirm <client name>",
		Short:   "Approve one pending authorization, confirming the client's name",
		Example: `  stasima admin oauth approve 7f3a --confirm "Claude Desktop"`,
		Args:    cobra.ExactArgs(1),
		RunE: a.jsonRun(func(_ *cobra.Command, _ Config, args []string) (adminFunc, error) {
			txn := args[0]
			return func(ctx context.Context, c *busclient.Client) (any, error) {
				var res schema.OAuthGranted
				err := c.Call(ctx, bus.Gateway, schema.CmdOAuthConsoleGrant, schema.OAuthConsoleGrant{Txn: txn, Confirm: confirm}, &res)
				return res, gatewayErr(err)
			}, nil
		}),
	}
	approve.Flags().StringVar(&confirm, "confirm", "", "the client's name as `oauth pending` shows it (required)")
	_ = approve.MarkFlagRequired("confirm")
	cmd.AddCommand(pending, approve)
	return cmd
}
