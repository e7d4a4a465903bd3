package app

import (
	"context"

	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// VapRecord is T-vap_record-8…10: compose the vantage at vantages/<op_id>.md and commit it
// through the pipeline (T-common-16). There is no immutability guard (an op_id reused after
// the ref moved on overwrites that vantage, 0.1.5 behaviour); a tip carrying the op_id for
// another act is refused (D-31); a replay is unflagged and not re-indexed.
func (a *App) VapRecord(ctx context.Context, c schema.VapRecord) (schema.VapRecordResult, *schema.GitCommitted, []schema.AuditIntent, error) {
	const op = "vap_record"
	if err := names.ValidateOpID(c.OpID); err != nil {
		return schema.VapRecordResult{}, nil, nil, err
	}
	if c.Vantage == "" {
		return schema.VapRecordResult{}, nil, nil, fault.E(op+".kind", fault.Denied, "vantage label is empty")
	}
	path := "vantages/" + c.OpID + ".md"
	if a.cfg.MaxBodyBytes > 0 && len(c.Horizon) > a.cfg.MaxBodyBytes {
		return schema.VapRecordResult{}, nil, nil, fault.E(op+".horizon", fault.ArgumentError,
			"horizon is %d bytes, over the cap of %d bytes (max_body_bytes)", len(c.Horizon), a.cfg.MaxBodyBytes)
	}
	title := c.Title
	if title == "" {
		title = "vantage on " + c.Binds
	}
	coords := []string{}
	if c.Binds != "" {
		coords = []string{c.Binds}
	}
	res, ev, rows, err := a.perspectiveWrite(ctx, op, c.Seat, c.OpID, path, func(depth int) ([]gitstore.Change, error) {
		// C-env-3, vap_record order.
		env := &entry.Envelope{}
		env.Set("type", "vap")
		env.Set("title", title)
		env.Set("status", "active")
		env.Set("vantage", c.Vantage)
		env.Set("canon_state", c.CanonState)
		env.Set("coordinates", coords)
		if c.AuthoredVia != "" {
			env.Set("authored_via", c.AuthoredVia)
		}
		env.Set("instance_depth", depth)
		if err := entry.CheckScalars(env); err != nil {
			return nil, err
		}
		return []gitstore.Change{{Path: path, Data: []byte(entry.Compose(env, c.Horizon))}}, nil
	})
	if err != nil {
		return schema.VapRecordResult{}, nil, withSession(rows, c.Session), err
	}
	out := schema.VapRecordResult{Path: path, Author: c.Seat, Binds: c.Binds, Vantage: c.Vantage,
		CanonState: c.CanonState, OID: res.OID, Replayed: res.Replayed}
	rows = append(rows, row(c.Seat, op, refs.Perspective(c.Seat), path, c.OpID, res.OID, "ok",
		schema.Detail("binds", c.Binds, "vantage", c.Vantage, "canon_state", c.CanonState)))
	return out, ev, withSession(rows, c.Session), nil
}
