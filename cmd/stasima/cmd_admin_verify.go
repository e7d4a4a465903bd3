package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
)

func newAdminVerifyCmd(a *adminOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit chain and its anchor: {audit_verify_ok, first_bad_seq, audit_vs_anchor}",
		Long: `Verify the audit chain and its anchor: {audit_verify_ok, first_bad_seq, audit_vs_anchor}. With a
witness configured (witness_key), also witness_cosigned_size: the tree size of the last
checkpoint the witness cosigned, its signatures checked.`,
		Args: cobra.NoArgs,
		RunE: a.query(func(ctx context.Context, c *busclient.Client, cfg Config) (any, error) {
			var v verifyResult
			if err := c.Query(ctx, bus.Audit, schema.QAuditVerify, nil, &v.VerifyAnswer); err != nil {
				return nil, err
			}
			if cfg.WitnessKey != "" {
				// Verify only reads: a witness that has no key yet has cosigned nothing.
				if _, err := os.Stat(cfg.WitnessKey); errors.Is(err, os.ErrNotExist) {
					v.cosigned = &cosigned{}
					return v, nil
				}
				w, err := openWitness(cfg.WitnessKey, "", cfg.WitnessState, "stasima-witness", io.Discard)
				if err != nil {
					return nil, fmt.Errorf("witness: %w", err)
				}
				if v.cosigned, err = w.lastCosigned(); err != nil {
					return nil, fmt.Errorf("witness: %w", err)
				}
				if v.cosigned == nil {
					v.cosigned = &cosigned{Witness: w.signer.Name()}
				}
			}
			return v, nil
		}),
	}
}

// verifyResult is O-verify-1's answer, plus the witness's last cosigned size when a witness is
// configured.
type verifyResult struct {
	schema.VerifyAnswer
	*cosigned
}
