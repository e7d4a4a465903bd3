package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/busclient"
)

// adminFunc is an admin command's work against the deployment's bus.
type adminFunc func(context.Context, *busclient.Client) (any, error)

// adminOpts are the flags of `admin` every subcommand shares.
type adminOpts struct {
	f commonFlags
}

// load resolves the config the admin flags name.
func (a *adminOpts) load() (Config, error) { return loadConfig(a.f.data, a.f.config, "") }

// newAdminCmd is the practitioner's CLI (operations §1): JSON on stdout and exit 0 on success,
// the refusal on stderr and exit 1, usage errors exit 2. It reaches the running deployment of
// the data dir over the bus address recorded there, or runs the backend in-process holding the
// deployment lock when none runs (O-cli-3).
func newAdminCmd() *cobra.Command {
	a := &adminOpts{}
	cmd := &cobra.Command{
		Use:   "admin <command>",
		Short: "The practitioner's CLI: status, land, close, audit, backup, airlock, inbox",
		Long: `The practitioner's CLI (operations §1): JSON on stdout and exit 0 on success, the refusal on
stderr and exit 1, usage errors exit 2. It reaches the running deployment of the data dir over
the bus address recorded there, or runs the backend in-process holding the deployment lock when
none runs (O-cli-3).`,
		Example: "  stasima admin --data ./stasima-data status\n  stasima admin land p-1 --by practitioner",
		Args:    cobra.ArbitraryArgs,
		RunE:    groupRun,
	}
	a.f.bind(cmd.PersistentFlags(), "")
	cmd.AddCommand(
		newAdminStatusCmd(a), newAdminBootstrapCmd(a), newAdminPreviewCmd(a), newAdminLandCmd(a),
		newAdminProposalsCmd(a), newAdminCloseCmd(a), newAdminVerifyCmd(a), newAdminAnchorCmd(a),
		newAdminReconcileCmd(a), newAdminRestoreAuditCmd(a), newAdminReindexCmd(a), newAdminBackupCmd(a),
		newAdminMirrorCmd(a), newAdminRestoreCmd(a), newAdminInboxCmd(a), newAdminTOTPProvisionCmd(a),
		newAdminTOTPCheckCmd(a), newAdminWatchCmd(a), newAdminBindingCmd(a), newAdminOAuthCmd(a), newAdminCockpitCmd(a),
		newAdminCheckpointCmd(a), newAdminProveCmd(a),
	)
	return cmd
}

// jsonRun is the action of an admin command that answers one JSON object: it loads the config,
// lets prepare check the arguments against it (a refusal there happens before any backend
// starts), runs the work against the deployment and prints the answer.
func (a *adminOpts) jsonRun(prepare func(cmd *cobra.Command, cfg Config, args []string) (adminFunc, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cfg, err := a.load()
		if err != nil {
			return adminRefusal(err)
		}
		work, err := prepare(cmd, cfg, args)
		if err != nil {
			return adminRefusal(err)
		}
		// Only bootstrap may create a deployment (restore and up do not come here).
		if cmd.Name() != "bootstrap" {
			if err := needDeployment(cfg); err != nil {
				return adminRefusal(err)
			}
		}
		ctx := cmd.Context()
		out, err := withBackend(ctx, cfg, func(c *busclient.Client) (any, error) { return work(ctx, c) })
		if err != nil {
			return adminRefusal(err)
		}
		printJSON(cmd, out)
		return nil
	}
}

// query is jsonRun for a command whose work needs nothing from its arguments.
func (a *adminOpts) query(work func(ctx context.Context, c *busclient.Client, cfg Config) (any, error)) func(*cobra.Command, []string) error {
	return a.jsonRun(func(_ *cobra.Command, cfg Config, _ []string) (adminFunc, error) {
		return func(ctx context.Context, c *busclient.Client) (any, error) { return work(ctx, c, cfg) }, nil
	})
}

// printJSON writes an admin answer: one indented JSON object on stdout.
func printJSON(cmd *cobra.Command, out any) {
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(cmd.OutOrStdout(), string(b))
}

// adminRefusal marks an admin command's refusal: printed bare on stderr, exit 1.
func adminRefusal(err error) error {
	if err == nil {
		return nil
	}
	return refusal{err: err}
}
