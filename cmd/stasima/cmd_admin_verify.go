package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminVerifyCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit chain and its anchor: {audit_verify_ok, first_bad_seq, audit_vs_anchor}",
		Args:  cobra.NoArgs,
		RunE: a.query(func(ctx context.Context, c *busclient.Client, _ Config) (any, error) {
			var v schema.VerifyAnswer
			err := c.Query(ctx, bus.Audit, schema.QAuditVerify, nil, &v)
			return v, err
		}),
	}
}
