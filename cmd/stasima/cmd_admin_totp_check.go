package main

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminTOTPCheckCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "totp-check <code>",
		Short: "Verify a TOTP code and diagnose clock skew",
		Args:  cobra.ExactArgs(1),
		RunE: a.jsonRun(func(_ *cobra.Command, _ Config, args []string) (adminFunc, error) {
			return func(ctx context.Context, c *busclient.Client) (any, error) {
				var res json.RawMessage
				err := c.Query(ctx, bus.Airlock, schema.QTOTPCheck, schema.TOTPCheck{Code: args[0]}, &res)
				return res, err
			}, nil
		}),
	}
}
