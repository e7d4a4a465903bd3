package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newAdminProveCmd(a *adminOpts) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "prove <seq> | --from <checkpoint-file>",
		Short: "An inclusion proof of row <seq>, or a consistency proof from an earlier checkpoint",
		Long: `Write, as one JSON proof file, an inclusion proof of audit row <seq> against the latest
checkpoint, or with --from a consistency proof from that earlier checkpoint (the note, or
` + "`admin checkpoint`" + `'s JSON) to the latest. ` + "`stasima verify-proof`" + ` checks it offline.`,
		Example: "  stasima admin prove 42 > row42.json\n  stasima admin prove --from cp-old.json > consistency.json",
		Args: func(cmd *cobra.Command, args []string) error {
			if (from == "") != (len(args) == 1) || len(args) > 1 {
				return errors.New("give a row number or --from <checkpoint-file>, not both")
			}
			return nil
		},
		RunE: a.jsonRun(func(_ *cobra.Command, _ Config, args []string) (adminFunc, error) {
			seq := ""
			if len(args) == 1 {
				seq = args[0]
			}
			return adminProve(seq, from)
		}),
	}
	cmd.Flags().StringVar(&from, "from", "", "an earlier checkpoint file (the note, or admin checkpoint's JSON)")
	return cmd
}
