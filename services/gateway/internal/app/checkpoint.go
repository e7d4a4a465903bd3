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
