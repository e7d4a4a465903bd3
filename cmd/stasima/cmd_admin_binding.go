package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/busclient"
)

func newAdminBindingCmd(a *adminOpts) *cobra.Command {
	var clear string
	cmd := &cobra.Command{
		Use:   "binding",
		Short: "Port-durable bindings and the binding trail; --clear PORT forgets one port's seat",
		Long: `The port table and the last session_binding and port_binding audit rows (O-binding-1);
--clear PORT appends a clear row for that port token, which learns its seat again on its
next identity-claiming write (O-binding-2, identity.md I-23).`,
		Args: cobra.NoArgs,
		RunE: a.jsonRun(func(cmd *cobra.Command, cfg Config, _ []string) (adminFunc, error) {
			if cmd.Flags().Changed("clear") {
				return func(ctx context.Context, c *busclient.Client) (any, error) { return bindingClear(ctx, c, cfg, clear) }, nil
			}
			return bindingShow, nil
		}),
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("clear") && clear == "" {
				return usageError{cmd: cmd, err: errors.New("--clear needs a port token")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&clear, "clear", "", "port token whose learned binding to clear")
	return cmd
}
