package main

import (
	"github.com/spf13/cobra"
)

func newAdminCheckpointCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint",
		Short: "The audit log's latest signed checkpoint and its verifier key",
		Args:  cobra.NoArgs,
		RunE:  a.query(adminCheckpoint),
	}
}
