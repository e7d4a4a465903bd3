package app

import (
	"context"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

// The approval relay (tools.md §10): no identity parameter (INV-13); the code proves the
// practitioner. Results are the airlock's, relayed as they are.

func (a *App) stageApprove(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	var res schema.Raw
	err := a.be.Do(ctx, command(bus.Airlock, schema.CmdAirlockStage, "", "", s.ID,
		schema.AirlockStage{ProposalID: args.String("proposal_id"), Code: args.String("code"), Client: s.ID, Address: s.Addr}), &res)
	return res, err
}

func (a *App) landApprove(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	var res schema.Raw
	err := a.be.Do(ctx, command(bus.Airlock, schema.CmdAirlockLand, "", "", s.ID,
		schema.AirlockLand{StagedOIDPrefix: args.String("staged_oid_prefix"), Code: args.String("code"), Client: s.ID,
			Address: s.Addr}), &res)
	return res, err
}

func (a *App) stageRevert(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	var res schema.Raw
	err := a.be.Do(ctx, command(bus.Airlock, schema.CmdAirlockRevert, "", "", s.ID,
		schema.AirlockRevert{ProposalID: args.String("proposal_id"), Client: s.ID}), &res)
	return res, err
}

// frozen is the frozen gate (C-prop-5, T-propose-5): the airlock answers whether a seat may
// write the proposal; a staged one refuses naming it and "frozen for review".
func (a *App) frozen(ctx context.Context, op, proposalID string) error {
	return a.be.Query(ctx, bus.Airlock, schema.QAirlockCheck, schema.AirlockCheckWritable{Op: op, ProposalID: proposalID}, nil)
}
