package main

import (
	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/busclient"
)

func newWitnessCmd() *cobra.Command {
	var keyFile, logKey, state, proofFile, name, url string
	var dep commonFlags
	cmd := &cobra.Command{
		Use:   "witness --key <file> --state <dir> (--log-key <verifier> [--proof <file>] <checkpoint-file> | --url <gateway> | --data <dir> | --config <file>)",
		Short: "Cosign an audit checkpoint consistent with the last one this witness cosigned",
		Long: `Cosign a checkpoint of the audit log only if it is consistent with the last checkpoint this
witness cosigned (kept in --state), and refuse with "fork detected" and both roots otherwise.
Given a checkpoint file, the consistency proof is the file ` + "`admin prove --from <state>/checkpoint`" + `
writes (--proof). Given --url (the gateway: GET /checkpoint, POST /checkpoint/consistency), or
--data or --config, instead, the witness asks that deployment itself for its latest checkpoint
and the consistency proof. On success it prints the checkpoint carrying the log's signature and
the witness's C2SP cosignature/v1. The log key is pinned in --state at the first cosignature
(--log-key, or over the bus the deployment's key on first use). The witness key file is created
(mode 0600) when missing; its cosignature verifier key is printed to stderr.`,
		Example: "  stasima witness --key w.key --state w --data ./stasima-data\n" +
			"  stasima witness --key w.key --state w --log-key log.pub --url https://stasima.example\n" +
			"  stasima witness --key w.key --state w --log-key log.pub --proof p.json checkpoint.txt",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var file string
			if len(args) == 1 {
				file = args[0]
			}
			var ask func(func(*busclient.Client) (any, error)) (any, error)
			if dep.data != "" || dep.config != "" {
				ask = func(fn func(*busclient.Client) (any, error)) (any, error) {
					cfg, err := loadConfig(dep.data, dep.config, "")
					if err != nil {
						return nil, err
					}
					if err := needDeployment(cfg); err != nil {
						return nil, err
					}
					return withBackend(cmd.Context(), cfg, fn)
				}
			}
			return refuse(cmdWitness(cmd.Context(), file, keyFile, logKey, state, proofFile, name, url, ask, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the witness's signer key file, created when missing (required)")
	cmd.Flags().StringVar(&logKey, "log-key", "", "the log's public key: note verifier string, or a file holding it (default: pinned in --state)")
	cmd.Flags().StringVar(&state, "state", "", "the witness's state directory (required)")
	cmd.Flags().StringVar(&proofFile, "proof", "", "a consistency proof file from the last cosigned checkpoint")
	cmd.Flags().StringVar(&url, "url", "", "ask the deployment's gateway (http(s)://host:port) for its checkpoint and proof")
	cmd.Flags().StringVar(&name, "name", "stasima-witness", "the witness key's name when the key is created")
	dep.bind(cmd.Flags(), "")
	cmd.Flags().Lookup("data").Usage = "ask the deployment of this data directory for its checkpoint and proof"
	cmd.Flags().Lookup("config").Usage = "ask the deployment of this config file for its checkpoint and proof"
	for _, f := range []string{"key", "state"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}
