package main

import (
	"github.com/spf13/cobra"
)

func newWitnessCmd() *cobra.Command {
	var keyFile, logKey, state, proofFile, name string
	cmd := &cobra.Command{
		Use:   "witness --key <file> --log-key <verifier> --state <dir> [--proof <file>] <checkpoint-file>",
		Short: "Cosign an audit checkpoint consistent with the last one this witness cosigned",
		Long: `Cosign a checkpoint of the audit log only if it is consistent with the last checkpoint this
witness cosigned (kept in --state), and refuse with "fork detected" and both roots otherwise.
The consistency proof is the file ` + "`admin prove --from <state>/checkpoint`" + ` writes. On success it
prints the checkpoint carrying the log's signature and the witness's. The witness key file is
created (mode 0600) when missing; its verifier key is printed to stderr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return refuse(cmdWitness(args[0], keyFile, logKey, state, proofFile, name, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the witness's signer key file, created when missing (required)")
	cmd.Flags().StringVar(&logKey, "log-key", "", "the log's public key: note verifier string, or a file holding it (required)")
	cmd.Flags().StringVar(&state, "state", "", "the witness's state directory (required)")
	cmd.Flags().StringVar(&proofFile, "proof", "", "a consistency proof file from the last cosigned checkpoint")
	cmd.Flags().StringVar(&name, "name", "stasima-witness", "the witness key's name when the key is created")
	for _, f := range []string{"key", "log-key", "state"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}
