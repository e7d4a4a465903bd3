package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/pytext"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// tipOf returns a ref's tip commit, or ok=false when the ref is missing.
func (a *App) tipOf(ref string) (gitstore.CommitInfo, bool, error) {
	oid, ok, err := a.git.Resolve(ref)
	if err != nil || !ok {
		return gitstore.CommitInfo{}, ok, err
	}
	info, err := a.git.CommitInfo(oid)
	return info, true, err
}

// ProposalInfo answers a proposal's gate state (C-prop-2, C-prop-4).
func (a *App) ProposalInfo(q schema.ProposalQuery) (schema.ProposalInfo, error) {
	const op = "proposal_info"
	tip, ok, err := a.tipOf(refs.Proposal(q.ProposalID))
	if err != nil {
		return schema.ProposalInfo{}, unavailable(op, err)
	}
	if !ok {
		return schema.ProposalInfo{}, nil
	}
	out := schema.ProposalInfo{Exists: true, Tip: tip.OID}
	if reason, closed := commitmsg.CloseReason(commitmsg.Subject(tip.Message)); closed {
		out.Closed, out.ClosedReason = true, reason
	}
	if out.Creator, err = a.creator(tip.OID); err != nil {
		return schema.ProposalInfo{}, unavailable(op, err)
	}
	return out, nil
}

// creator is C-prop-4: the author of the oldest commit reachable from the proposal tip but not
// from canon's tip; "" when there is none.
func (a *App) creator(tip string) (string, error) {
	canon, _, err := a.git.Resolve(a.cfg.CanonRef)
	if err != nil {
		return "", err
	}
	onCanon := map[string]bool{}
	if canon != "" {
		if err := a.walk(canon, func(c gitstore.CommitInfo) bool { onCanon[c.OID] = true; return true }); err != nil {
			return "", err
		}
	}
	var oldest *gitstore.CommitInfo
	err = a.walk(tip, func(c gitstore.CommitInfo) bool {
		if onCanon[c.OID] {
			return false
		}
		if oldest == nil || c.Time.Before(oldest.Time) || c.Time.Equal(oldest.Time) {
			cc := c
			oldest = &cc
		}
		return true
	})
	if err != nil || oldest == nil {
		return "", err
	}
	return commitmsg.Author(oldest.Message, oldest.AuthorName), nil
}

// walk visits every commit reachable from oid once; fn returning false prunes its parents.
func (a *App) walk(oid string, fn func(gitstore.CommitInfo) bool) error {
	seen := map[string]bool{}
	stack := []string{oid}
	for len(stack) > 0 {
		o := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[o] {
			continue
		}
		seen[o] = true
		c, err := a.git.CommitInfo(o)
		if err != nil {
			return err
		}
		if fn(c) {
			stack = append(stack, c.Parents...)
		}
	}
	return nil
}

// Propose is T-propose-13…16: create the proposal at canon's tip on first use (D-18), then
// commit the entry through up to two attempts; a replay onto a tip written by another act is
// refused (D-31).
func (a *App) Propose(ctx context.Context, c schema.Propose) (schema.ProposeResult, []schema.AuditIntent, error) {
	const op = "propose"
	if err := names.ValidateProposalID(c.ProposalID); err != nil {
		return schema.ProposeResult{}, nil, err
	}
	path, err := names.EntryPath(c.Domain, c.Slug)
	if err != nil {
		return schema.ProposeResult{}, nil, err
	}
	ref := refs.Proposal(c.ProposalID)
	canon, ok, err := a.git.Resolve(a.cfg.CanonRef)
	if err != nil {
		return schema.ProposeResult{}, nil, unavailable(op, err)
	}
	if !ok {
		return schema.ProposeResult{}, nil, fault.E(op, fault.RefNotFound, "%s: canon does not exist yet (bootstrap it first)", a.cfg.CanonRef)
	}
	if _, exists, err := a.git.Resolve(ref); err != nil {
		return schema.ProposeResult{}, nil, unavailable(op, err)
	} else if !exists {
		// D-18: create-only at canon's tip; a concurrent creator winning is not an error.
		if err := a.git.SetRef(ctx, ref, canon, ""); err != nil && !fault.Is(err, fault.StaleRef) {
			return schema.ProposeResult{}, withSession(errorRow(c.Seat, op, ref, path, c.OpID, err), c.Session), err
		}
	}
	subject := commitmsg.KIPPrefix + path
	var res gitstore.CommitResult
	for attempt := 1; ; attempt++ {
		tip, _, err := a.tipOf(ref)
		if err != nil {
			return schema.ProposeResult{}, nil, unavailable(op, err)
		}
		if err := a.sameAct(op, tip, c.OpID, subject); err != nil {
			return schema.ProposeResult{}, nil, err
		}
		depth, err := a.depth(tip.OID)
		if err != nil {
			return schema.ProposeResult{}, nil, unavailable(op, err)
		}
		env := proposeEnvelope(c, depth)
		if err := entry.CheckScalars(env); err != nil {
			return schema.ProposeResult{}, nil, err
		}
		res, err = a.git.Commit(ctx, gitstore.CommitRequest{
			Ref: ref, Parent: tip.OID,
			Changes:    []gitstore.Change{{Path: path, Data: []byte(entry.Compose(env, c.Body))}},
			AuthorName: c.Seat, AuthorEmail: c.Seat + "@stasima.local",
			Message: commitmsg.Seat(subject, c.OpID, c.Seat), OpID: c.OpID,
		})
		if fault.Is(err, fault.StaleRef) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return schema.ProposeResult{}, withSession(errorRow(c.Seat, op, ref, path, c.OpID, err), c.Session), err
		}
		break
	}
	rows := []schema.AuditIntent{row(c.Seat, op, ref, path, c.OpID, res.OID, "ok", schema.Detail())}
	return schema.ProposeResult{ProposalID: c.ProposalID, OID: res.OID, Path: path, Author: c.Seat}, withSession(rows, c.Session), nil
}

// sameAct is D-31: a tip carrying this op_id must be this act (subject), or the write is refused.
func (a *App) sameAct(op string, tip gitstore.CommitInfo, opID, subject string) error {
	if tip.OID == "" {
		return nil
	}
	tipOp, _ := commitmsg.Trailer(tip.Message, commitmsg.OpIDKey)
	if tipOp == opID && commitmsg.Subject(tip.Message) != subject {
		return fault.E(op+".op_id", fault.Denied,
			"op_id %q already names another act at the tip (%q); use a new op_id for this one", opID, commitmsg.Subject(tip.Message))
	}
	return nil
}

func (a *App) depth(tip string) (int, error) {
	if tip == "" {
		return 1, nil
	}
	n, err := a.git.CountCommits(tip)
	return n + 1, err
}

// proposeEnvelope is C-env-3's propose order.
func proposeEnvelope(c schema.Propose, depth int) *entry.Envelope {
	title := c.Title
	if title == "" {
		title = c.Slug
	}
	env := &entry.Envelope{}
	env.Set("type", orDefault(c.Type, "kno"))
	env.Set("title", title)
	env.Set("status", orDefault(c.Status, "active"))
	env.Set("tags", nonNil(c.Tags))
	env.Set("references", nonNil(c.References))
	if len(c.Supersedes) > 0 {
		env.Set("supersedes", c.Supersedes)
	}
	if len(c.SupersededBy) > 0 {
		env.Set("superseded_by", c.SupersededBy)
	}
	if c.Seq != "" {
		env.Set("seq", strings.ToLower(c.Seq))
	}
	if c.OriginAuthor != "" {
		env.Set("origin_author", c.OriginAuthor)
	}
	if c.Thread != "" {
		env.Set("thread", c.Thread)
	}
	if c.AuthoredVia != "" {
		env.Set("authored_via", c.AuthoredVia)
	}
	env.Set("canon_state", c.CanonState)
	env.Set("instance_depth", depth)
	return env
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func withSession(rows []schema.AuditIntent, session string) []schema.AuditIntent {
	for i := range rows {
		rows[i].Session = session
	}
	return rows
}

// ProposeRetract is T-propose_retract-4…8: restore zero divergence for one path.
func (a *App) ProposeRetract(ctx context.Context, c schema.ProposeRetract) (schema.ProposeRetractResult, []schema.AuditIntent, error) {
	const op = "propose_retract"
	if err := names.ValidatePath(c.Path); err != nil {
		return schema.ProposeRetractResult{}, nil, err
	}
	ref := refs.Proposal(c.ProposalID)
	tip, ok, err := a.tipOf(ref)
	if err != nil {
		return schema.ProposeRetractResult{}, nil, unavailable(op, err)
	}
	if !ok {
		return schema.ProposeRetractResult{}, nil, fault.E(op, fault.RefNotFound, "%s: no such proposal", ref)
	}
	if reason, closed := commitmsg.CloseReason(commitmsg.Subject(tip.Message)); closed {
		return schema.ProposeRetractResult{}, nil, closedErr(op, c.ProposalID, reason)
	}
	owner, err := a.creator(tip.OID)
	if err != nil {
		return schema.ProposeRetractResult{}, nil, unavailable(op, err)
	}
	if owner != "" && owner != c.Seat {
		rows := []schema.AuditIntent{row(c.Seat, op, ref, c.Path, "", "", "denied", schema.Detail("reason", "not the proposal's creator", "owner", owner))}
		return schema.ProposeRetractResult{}, withSession(rows, c.Session), fault.E(op+".creator", fault.Denied,
			"only the proposal's creator %q may retract from %s (you are %q)", owner, c.ProposalID, c.Seat)
	}
	subject := commitmsg.RetractPrefix + c.Path
	if err := a.sameAct(op, tip, c.OpID, subject); err != nil {
		return schema.ProposeRetractResult{}, nil, err
	}
	change := gitstore.Change{Path: c.Path, Delete: true}
	reverted := false
	if canon, ok, err := a.git.Resolve(a.cfg.CanonRef); err != nil {
		return schema.ProposeRetractResult{}, nil, unavailable(op, err)
	} else if ok {
		if data, found, err := a.git.ReadBlob(canon, c.Path); err != nil {
			return schema.ProposeRetractResult{}, nil, unavailable(op, err)
		} else if found {
			change, reverted = gitstore.Change{Path: c.Path, Data: data}, true
		}
	}
	res, err := a.git.Commit(ctx, gitstore.CommitRequest{
		Ref: ref, Parent: tip.OID, Changes: []gitstore.Change{change},
		AuthorName: c.Seat, AuthorEmail: c.Seat + "@stasima.local",
		Message: commitmsg.Seat(subject, c.OpID, c.Seat), OpID: c.OpID,
	})
	if err != nil {
		return schema.ProposeRetractResult{}, withSession(errorRow(c.Seat, op, ref, c.Path, c.OpID, err), c.Session), err
	}
	rows := []schema.AuditIntent{row(c.Seat, op, ref, c.Path, c.OpID, res.OID, "ok", schema.Detail("reverted_to_canon", reverted))}
	return schema.ProposeRetractResult{ProposalID: c.ProposalID, Retracted: c.Path, OID: res.OID}, withSession(rows, c.Session), nil
}

func closedErr(op, id, reason string) error {
	return fault.E(op+".closed", fault.Denied, "proposal %s is closed (%s); closed is terminal for seats", id, reason)
}

// ProposeClose is T-propose_close-4…6 and O-close-1.
func (a *App) ProposeClose(ctx context.Context, c schema.ProposeClose) (schema.ProposeCloseResult, []schema.AuditIntent, error) {
	const op = "propose_close"
	ref := refs.Proposal(c.ProposalID)
	tip, ok, err := a.tipOf(ref)
	if err != nil {
		return schema.ProposeCloseResult{}, nil, unavailable(op, err)
	}
	if !ok {
		return schema.ProposeCloseResult{}, nil, fault.E(op, fault.RefNotFound, "%s: no such proposal", ref)
	}
	if reason, closed := commitmsg.CloseReason(commitmsg.Subject(tip.Message)); closed {
		return schema.ProposeCloseResult{ProposalID: c.ProposalID, Closed: true, Reason: reason, Already: true}, nil, nil
	}
	if !c.Approver {
		owner, err := a.creator(tip.OID)
		if err != nil {
			return schema.ProposeCloseResult{}, nil, unavailable(op, err)
		}
		if owner != "" && owner != c.Seat {
			rows := []schema.AuditIntent{row(c.Seat, op, ref, "", "", "", "denied", schema.Detail("reason", "not the proposal's creator", "owner", owner))}
			return schema.ProposeCloseResult{}, withSession(rows, c.Session), fault.E(op+".creator", fault.Denied,
				"only the proposal's creator %q or an approver may close %s", owner, c.ProposalID)
		}
	}
	opID := c.OpID
	if opID == "" {
		opID = fmt.Sprintf("close-%s-%s", c.ProposalID, tip.OID[:8])
	}
	if tipOp, _ := commitmsg.Trailer(tip.Message, commitmsg.OpIDKey); tipOp == opID {
		return schema.ProposeCloseResult{}, nil, fault.E(op+".op_id", fault.Denied,
			"op_id %q already names another act at the tip of %s; use a new op_id to close it", opID, c.ProposalID)
	}
	res, err := a.git.Commit(ctx, gitstore.CommitRequest{
		Ref: ref, Parent: tip.OID,
		AuthorName: c.Seat, AuthorEmail: c.Seat + "@stasima.local",
		Message: commitmsg.Seat(commitmsg.ClosePrefix+pytext.Flatten(c.Reason), opID, c.Seat), OpID: opID,
	})
	if err != nil {
		return schema.ProposeCloseResult{}, nil, err
	}
	rows := []schema.AuditIntent{row(c.Seat, op, ref, "", opID, res.OID, "ok", schema.Detail("reason", c.Reason))}
	return schema.ProposeCloseResult{ProposalID: c.ProposalID, Closed: true, Reason: c.Reason, OID: res.OID}, withSession(rows, c.Session), nil
}

// SupReconcile is T-sup_reconcile-4…7: the self-report state/reconciled-<tip12>.md.
func (a *App) SupReconcile(ctx context.Context, c schema.SupReconcile) (schema.SupReconcileResult, []schema.AuditIntent, error) {
	const op = "sup_reconcile"
	if len(c.CanonTip) < 12 {
		return schema.SupReconcileResult{}, nil, fault.E(op, fault.ArgumentError, "canon tip %q is not an oid", c.CanonTip)
	}
	tip12 := c.CanonTip[:12]
	ref := refs.Perspective(c.Seat)
	path := "state/reconciled-" + tip12 + ".md"
	opID := "reconcile-" + tip12
	out := schema.SupReconcileResult{Path: path, CanonCursor: c.CanonTip}
	if existing, err := a.nameFork(c.Seat); err != nil {
		var rows []schema.AuditIntent
		if existing != "" {
			rows = append(rows, row(c.Seat, "name_collision", ref, "", "", "", "denied", schema.Detail("existing", existing)))
		}
		return out, withSession(rows, c.Session), err
	}
	var res gitstore.CommitResult
	for attempt := 1; ; attempt++ {
		tip, _, err := a.tipOf(ref)
		if err != nil {
			return out, nil, unavailable(op, err)
		}
		if tip.OID != "" {
			if _, found, err := a.git.ReadBlob(tip.OID, path); err != nil {
				return out, nil, unavailable(op, err)
			} else if found {
				out.Already = true
				if h, err := a.git.History(tip.OID, path); err == nil && len(h) > 0 {
					out.OID, out.Subject = h[0].OID, commitmsg.Subject(h[0].Message)
				}
				return out, nil, nil
			}
		}
		depth, err := a.depth(tip.OID)
		if err != nil {
			return out, nil, unavailable(op, err)
		}
		env := &entry.Envelope{}
		env.Set("type", "reconciliation")
		env.Set("title", "Reconciled with canon "+tip12)
		env.Set("status", "active")
		env.Set("canon_cursor", c.CanonTip)
		if c.AuthoredVia != "" {
			env.Set("authored_via", c.AuthoredVia)
		}
		env.Set("canon_state", c.CanonState)
		env.Set("instance_depth", depth)
		res, err = a.git.Commit(ctx, gitstore.CommitRequest{
			Ref: ref, Parent: tip.OID,
			Changes:    []gitstore.Change{{Path: path, Data: []byte(entry.Compose(env, c.Body))}},
			AuthorName: c.Seat, AuthorEmail: c.Seat + "@stasima.local",
			Message: commitmsg.Seat(commitmsg.KIPPrefix+path, opID, c.Seat), OpID: opID,
		})
		if fault.Is(err, fault.StaleRef) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return out, withSession(errorRow(c.Seat, op, ref, path, "", err), c.Session), err
		}
		break
	}
	out.OID = res.OID
	rows := []schema.AuditIntent{row(c.Seat, "reconcile_report", ref, path, opID, res.OID, "ok", schema.Detail("canon_cursor", c.CanonTip))}
	return out, withSession(rows, c.Session), nil
}
