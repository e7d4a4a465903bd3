package main

import (
	"github.com/spf13/cobra"
)

func newAdminStatusCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Canon head and seq, perspectives, proposals, staged proposals, unread, audit health",
		Long: `Canon head and seq, perspectives, proposals, the airlock's staged proposals, the
practitioner's unread count and the audit chain's health, as one JSON object (O-status-1).`,
		Args: cobra.NoArgs,
		RunE: a.query(adminStatus),
	}
}
