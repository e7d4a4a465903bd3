package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/busclient"
)

func newAdminInboxCmd(a *adminOpts) *cobra.Command {
	var all bool
	var read string
	cmd := &cobra.Command{
		Use:   "inbox",
		Short: "The practitioner's unread messages; --read PATH marks one handled",
		Long:  "The practitioner's unread messages (O-inbox-2); --all lists read ones too; --read PATH\nmarks one handled with a read receipt (O-inbox-1).",
		Args:  cobra.NoArgs,
		RunE: a.jsonRun(func(_ *cobra.Command, _ Config, _ []string) (adminFunc, error) {
			if read != "" {
				return func(ctx context.Context, c *busclient.Client) (any, error) { return inboxRead(ctx, c, read) }, nil
			}
			return func(ctx context.Context, c *busclient.Client) (any, error) { return inboxList(ctx, c, all) }, nil
		}),
	}
	cmd.Flags().BoolVar(&all, "all", false, "list read messages too")
	cmd.Flags().StringVar(&read, "read", "", "mark the message at PATH handled")
	return cmd
}
