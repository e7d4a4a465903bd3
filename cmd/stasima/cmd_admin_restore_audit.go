package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminRestoreAuditCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "restore-audit <file>",
		Short: "Import a SQLite audit snapshot into an empty log, then verify",
		Args:  cobra.ExactArgs(1),
		RunE: a.jsonRun(func(_ *cobra.Command, _ Config, args []string) (adminFunc, error) {
			file, err := filepath.Abs(args[0])
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, c *busclient.Client) (any, error) {
				var res schema.RestoreResult
				err := c.Do(ctx, busclient.Command{Svc: bus.Audit, Verb: schema.CmdAuditRestore,
					Data: schema.Restore{Actor: schema.Actor{Seat: "practitioner"}, File: file}}, &res)
				if err == nil && (!res.Verify.OK || res.Verify.AuditVsAnchor != nil && !*res.Verify.AuditVsAnchor) {
					b, _ := json.Marshal(res)
					return nil, fmt.Errorf("restored %d rows but verification failed: %s", res.Restored, b)
				}
				return res, err
			}, nil
		}),
	}
}
