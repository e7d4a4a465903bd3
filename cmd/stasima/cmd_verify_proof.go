package main

import (
	"github.com/spf13/cobra"
)

func newVerifyProofCmd() *cobra.Command {
	var key, trusted string
	cmd := &cobra.Command{
		Use:   "verify-proof --key <verifier> [--checkpoint FILE] <proof-or-checkpoint-file>",
		Short: "Check a signed checkpoint or a proof of `admin prove` offline",
		Long: `Check, offline, a signed checkpoint (a note, or admin checkpoint's JSON) or a proof file of
` + "`admin prove`" + `: an inclusion proof (the row rehashed, its leaf, the path to the signed root) or a
consistency proof (both checkpoints signed, the old tree a prefix of the new). It needs no
deployment and no network. With --checkpoint, the proof's checkpoint must also be consistent
with that trusted earlier checkpoint.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return refuse(cmdVerifyProof(args[0], key, trusted, cmd.OutOrStdout()))
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the log's public key, or a file holding it (admin checkpoint prints it; required)")
	cmd.Flags().StringVar(&trusted, "checkpoint", "", "a trusted checkpoint file the proof's checkpoint must not contradict")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}
