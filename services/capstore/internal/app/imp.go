package app

import (
	"context"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// ImpSend is T-imp_send-5…8: compose the message against the tip and commit it to the sender's
// perspective through the pipeline (T-common-16). A replay of the same act is tip-local and
// unflagged in the tool result; a tip carrying the op_id for another act is refused (D-31).
//
// The event describes the written commit (nil on replay: nothing is re-indexed).
func (a *App) ImpSend(ctx context.Context, c schema.ImpSend) (schema.ImpSendResult, *schema.GitCommitted, []schema.AuditIntent, error) {
	const op = "imp_send"
	if err := names.ValidateOpID(c.OpID); err != nil {
		return schema.ImpSendResult{}, nil, nil, err
	}
	path := "messages/" + c.OpID + ".md"
	if a.cfg.MaxBodyBytes > 0 && len(c.Body) > a.cfg.MaxBodyBytes {
		return schema.ImpSendResult{}, nil, nil, fault.E(op+".body", fault.ArgumentError,
			"body is %d bytes, over the cap of %d bytes (max_body_bytes)", len(c.Body), a.cfg.MaxBodyBytes)
	}
	res, ev, rows, err := a.perspectiveWrite(ctx, op, c.Seat, c.OpID, path, func(depth int) ([]gitstore.Change, error) {
		// C-env-3, imp_send order.
		env := &entry.Envelope{}
		env.Set("type", "msg")
		env.Set("subject", c.Subject)
		env.Set("status", "active")
		env.Set("recipients", nonNil(c.Recipients))
		env.Set("coordinates", nonNil(c.Coordinates))
		if c.AuthoredVia != "" {
			env.Set("authored_via", c.AuthoredVia)
		}
		if c.Thread != "" {
			env.Set("thread", c.Thread)
		}
		if len(c.Supersedes) > 0 {
			env.Set("supersedes", c.Supersedes)
		}
		env.Set("canon_state", c.CanonState)
		env.Set("instance_depth", depth)
		if err := entry.CheckScalars(env); err != nil {
			return nil, err
		}
		return []gitstore.Change{{Path: path, Data: []byte(entry.Compose(env, c.Body))}}, nil
	})
	rows = withSession(rows, c.Session)
	if err != nil {
		return schema.ImpSendResult{}, nil, rows, err
	}
	out := schema.ImpSendResult{Path: path, From: c.Seat, Recipients: nonNil(c.Recipients), OID: res.OID, Replayed: res.Replayed}
	rows = append(rows, row(c.Seat, op, refs.Perspective(c.Seat), path, c.OpID, res.OID, "ok", schema.Detail("recipients", out.Recipients)))
	return out, ev, withSession(rows, c.Session), nil
}

// perspectiveWrite is the pipeline of T-common-16 for a one-file act at path on seat's
// perspective: the name-fork guard, then up to two attempts of read tip → same-act check
// (D-31) → build against the tip's depth → compare-and-swap commit with the tip as parent.
// Store errors come back with their T-common-12 row (target_path and op_id, no target_ref).
func (a *App) perspectiveWrite(ctx context.Context, op, seat, opID, path string, build func(depth int) ([]gitstore.Change, error)) (gitstore.CommitResult, *schema.GitCommitted, []schema.AuditIntent, error) {
	if err := names.ValidateSeat(seat); err != nil {
		return gitstore.CommitResult{}, nil, nil, err
	}
	if err := names.ValidatePath(path); err != nil {
		return gitstore.CommitResult{}, nil, nil, err
	}
	ref := refs.Perspective(seat)
	if ref == a.cfg.CanonRef {
		return gitstore.CommitResult{}, nil, nil, fault.E(op+".canon", fault.ProtectedRef, "%s is canon; it advances only by a land", ref)
	}
	if existing, err := a.nameFork(seat); err != nil {
		var rows []schema.AuditIntent
		if existing != "" {
			rows = append(rows, row(seat, "name_collision", ref, "", "", "", "denied", schema.Detail("existing", existing)))
		}
		return gitstore.CommitResult{}, nil, rows, err
	}
	subject := commitmsg.KIPPrefix + path
	for attempt := 1; ; attempt++ {
		tip, _, err := a.tipOf(ref)
		if err != nil {
			return gitstore.CommitResult{}, nil, nil, unavailable(op, err)
		}
		if err := a.sameAct(op, tip, opID, subject); err != nil {
			return gitstore.CommitResult{}, nil, nil, err
		}
		depth, err := a.depth(tip.OID)
		if err != nil {
			return gitstore.CommitResult{}, nil, nil, unavailable(op, err)
		}
		changes, err := build(depth)
		if err != nil {
			return gitstore.CommitResult{}, nil, nil, err
		}
		res, err := a.git.Commit(ctx, gitstore.CommitRequest{
			Ref: ref, Parent: tip.OID, Changes: changes,
			AuthorName: seat, AuthorEmail: seat + "@stasima.local",
			Message: commitmsg.Seat(subject, opID, seat), OpID: opID,
		})
		if fault.Is(err, fault.StaleRef) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return gitstore.CommitResult{}, nil, errorRow(seat, op, "", path, opID, err), err
		}
		ev := &schema.GitCommitted{Ref: ref, OID: res.OID, Parents: res.Parents, OpID: opID, Author: seat,
			Subject: subject, Paths: []string{path}}
		if !res.Replayed {
			ev.Paths = res.Paths
		} else if info, err := a.git.CommitInfo(res.OID); err == nil {
			ev.Parents = info.Parents
		}
		return res, ev, nil, nil
	}
}
