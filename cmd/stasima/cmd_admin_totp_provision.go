package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminTOTPProvisionCmd(a *adminOpts) *cobra.Command {
	var force, qr, land bool
	cmd := &cobra.Command{
		Use:   "totp-provision",
		Short: "Provision the airlock's TOTP secret (0600): otpauth URI, optional QR",
		Args:  cobra.NoArgs,
		RunE: a.jsonRun(func(cmd *cobra.Command, _ Config, _ []string) (adminFunc, error) {
			stderr := cmd.ErrOrStderr()
			return func(ctx context.Context, c *busclient.Client) (any, error) {
				var res map[string]any
				err := c.Do(ctx, busclient.Command{Svc: bus.Airlock, Verb: schema.CmdTOTPProvision, Data: schema.TOTPProvision{Force: force, QR: qr, Land: land}}, &res)
				if q, ok := res["qr"].(string); ok && err == nil {
					// The QR goes to the terminal (stderr) so stdout stays one JSON object.
					fmt.Fprintln(stderr, q)
				}
				return res, err
			}, nil
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "rotate an existing secret")
	cmd.Flags().BoolVar(&qr, "qr", false, "also render a QR code (on stderr)")
	cmd.Flags().BoolVar(&land, "land", false, "provision the second, land-only secret (airlock_land_secret)")
	return cmd
}
