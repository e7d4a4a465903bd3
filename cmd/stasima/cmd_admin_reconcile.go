package main

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminReconcileCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "reconcile",
		Short: "Backfill audit rows for committed op_ids that have none",
		Args:  cobra.NoArgs,
		RunE: a.query(func(ctx context.Context, c *busclient.Client, _ Config) (any, error) {
			var res json.RawMessage
			err := c.Do(ctx, busclient.Command{Svc: bus.Audit, Verb: schema.CmdAuditReconcile, Data: struct{}{}}, &res)
			return res, err
		}),
	}
}
