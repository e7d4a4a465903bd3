package app

import (
	"context"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/schema"
)

// Checkpoint returns the audit log's latest signed checkpoint (a C2SP tlog-checkpoint signed
// note), read-only, for GET /checkpoint.
func (a *App) Checkpoint(ctx context.Context) (string, error) {
	var cp schema.TlogCheckpoint
	if err := a.be.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &cp); err != nil {
		return "", err
	}
	return cp.Note, nil
}

// Consistency returns the consistency proof from an earlier signed checkpoint (the note text)
// to the latest, for POST /checkpoint/consistency: what a witness asks before cosigning.
func (a *App) Consistency(ctx context.Context, from string) (schema.TlogProof, error) {
	var p schema.TlogProof
	err := a.be.Query(ctx, bus.Audit, schema.QAuditConsistency, schema.TlogProveQuery{From: from}, &p)
	return p, err
}
