package main

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminAnchorCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "anchor",
		Short: "Commit the audit head {seq, head} to refs/cap/audit-anchor now",
		Args:  cobra.NoArgs,
		RunE: a.query(func(ctx context.Context, c *busclient.Client, _ Config) (any, error) {
			var res json.RawMessage
			if err := c.Do(ctx, busclient.Command{Svc: bus.Audit, Verb: schema.CmdAuditAnchor, Data: struct{}{}}, &res); err != nil {
				return res, err
			}
			return map[string]json.RawMessage{"anchored": res}, nil // O-anchor-1
		}),
	}
}
