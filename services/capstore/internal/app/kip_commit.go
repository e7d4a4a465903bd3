package app

import (
	"context"
	"strings"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// maxAttempts is T-common-16(b): one retry after a lost compare-and-swap.
const maxAttempts = 2

// KipCommit applies T-kip_commit-8…16 through the perspective write pipeline (T-common-16).
// It is idempotent on the op_id at the tip (C-commit-6): a redelivered command replays.
//
// The returned event describes the commit at the result's oid: the one written, or on replay
// the tip that was replayed (the caller decides whether a replay republishes it).
func (a *App) KipCommit(ctx context.Context, c schema.KipCommit) (schema.KipCommitResult, *schema.GitCommitted, []schema.AuditIntent, error) {
	res, ev, rows, err := a.kipCommit(ctx, c)
	for i := range rows {
		rows[i].Session = c.Session
	}
	return res, ev, rows, err
}

func (a *App) kipCommit(ctx context.Context, c schema.KipCommit) (schema.KipCommitResult, *schema.GitCommitted, []schema.AuditIntent, error) {
	const op = "kip_commit"
	if err := names.ValidateSeat(c.Seat); err != nil {
		return schema.KipCommitResult{}, nil, nil, err
	}
	if err := names.ValidateOpID(c.OpID); err != nil {
		return schema.KipCommitResult{}, nil, nil, err
	}
	path, err := names.EntryPath(c.Domain, c.Slug)
	if err != nil {
		return schema.KipCommitResult{}, nil, nil, err
	}
	if a.cfg.MaxBodyBytes > 0 && len(c.Body) > a.cfg.MaxBodyBytes {
		return schema.KipCommitResult{}, nil, nil, fault.E(op+".body", fault.ArgumentError,
			"body is %d bytes, over the cap of %d bytes (max_body_bytes)", len(c.Body), a.cfg.MaxBodyBytes)
	}
	ref := refs.Perspective(c.Seat)
	if ref == a.cfg.CanonRef {
		return schema.KipCommitResult{}, nil, nil, fault.E(op+".canon", fault.ProtectedRef, "%s is canon; it advances only by a land", ref)
	}
	if existing, err := a.nameFork(c.Seat); err != nil {
		var rows []schema.AuditIntent
		if existing != "" {
			rows = append(rows, row(c.Seat, "name_collision", ref, "", "", "", "denied", schema.Detail("existing", existing)))
		}
		return schema.KipCommitResult{}, nil, rows, err
	}
	vantagePath := ""
	if c.Horizon != "" {
		vantagePath = "vantages/" + c.OpID + "-vap.md"
		if err := names.ValidatePath(vantagePath); err != nil {
			return schema.KipCommitResult{}, nil, nil, err
		}
	}

	var res gitstore.CommitResult
	var entryEnv *entry.Envelope
	for attempt := 1; ; attempt++ {
		tip, _, err := a.git.Resolve(ref)
		if err != nil {
			return schema.KipCommitResult{}, nil, nil, unavailable(op, err)
		}
		changes, env, denial, err := a.buildKipCommit(c, tip, path, vantagePath)
		if err != nil {
			var rows []schema.AuditIntent
			if denial != nil {
				rows = append(rows, *denial)
			}
			return schema.KipCommitResult{}, nil, rows, err
		}
		entryEnv = env
		res, err = a.git.Commit(ctx, gitstore.CommitRequest{
			Ref:         ref,
			Parent:      tip,
			Changes:     changes,
			AuthorName:  c.Seat,
			AuthorEmail: c.Seat + "@stasima.local",
			Message:     commitmsg.Seat(commitmsg.KIPPrefix+path, c.OpID, c.Seat),
			OpID:        c.OpID,
		})
		if fault.Is(err, fault.StaleRef) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return schema.KipCommitResult{}, nil, errorRow(c.Seat, op, ref, path, c.OpID, err), err
		}
		break
	}

	out := schema.KipCommitResult{OID: res.OID, Ref: ref, Path: path, OpID: c.OpID, Author: c.Seat}
	ev := &schema.GitCommitted{
		Ref: ref, OID: res.OID, Parents: res.Parents, OpID: c.OpID, Author: c.Seat,
		Subject: commitmsg.KIPPrefix + path, Paths: res.Paths,
	}
	if res.Replayed {
		replayEv, err := a.replayedEvent(ref, res.OID, vantagePath)
		if err != nil {
			return schema.KipCommitResult{}, nil, nil, err
		}
		ev = replayEv
		// T-kip_commit-14: nothing composed by this call is reported.
		out.Replayed = true
		if vantagePath != "" {
			if _, ok, _ := a.git.ReadBlob(res.OID, vantagePath); ok {
				out.Folded = &schema.Folded{Path: vantagePath, Vantage: "confirmed", Replayed: true}
			} else {
				out.Note = "the prior commit of this op_id carried no vantage; the horizon was not recorded — author under a new op_id to fold"
			}
		}
		rows := []schema.AuditIntent{row(c.Seat, op, ref, path, c.OpID, res.OID, "ok", schema.Detail("replayed", true))}
		return out, ev, rows, nil
	}
	out.Written = res.Paths
	if vantagePath != "" {
		out.Folded = &schema.Folded{Path: vantagePath, Vantage: "confirmed", CanonState: new(entryEnv.Str("canon_state"))}
	}
	detail := schema.Detail()
	if vantagePath != "" {
		detail = schema.Detail("folded", vantagePath)
	}
	return out, ev, []schema.AuditIntent{row(c.Seat, op, ref, path, c.OpID, res.OID, "ok", detail)}, nil
}

// replayedEvent rebuilds the git.commit event of a replayed tip from the commit itself.
func (a *App) replayedEvent(ref, oid, vantagePath string) (*schema.GitCommitted, error) {
	info, err := a.git.CommitInfo(oid)
	if err != nil {
		return nil, unavailable("kip_commit", err)
	}
	opID, _ := commitmsg.Trailer(info.Message, "op-id")
	subject := commitmsg.Subject(info.Message)
	paths := []string{strings.TrimPrefix(subject, commitmsg.KIPPrefix)}
	if vantagePath != "" {
		if _, ok, _ := a.git.ReadBlob(oid, vantagePath); ok {
			paths = append(paths, vantagePath)
		}
	}
	return &schema.GitCommitted{
		Ref: ref, OID: oid, Parents: info.Parents, OpID: opID,
		Author: commitmsg.Author(info.Message, info.AuthorName), Subject: subject, Paths: paths,
	}, nil
}

// buildKipCommit is the per-tip build: guards, pins and composition against tip.
//
// A guard refusal comes back with the audit row it writes (T-kip_commit-9, -11).
func (a *App) buildKipCommit(c schema.KipCommit, tip, path, vantagePath string) ([]gitstore.Change, *entry.Envelope, *schema.AuditIntent, error) {
	const op = "kip_commit"
	depth := 1
	if tip != "" {
		// T-kip_commit-9 / C-sup-1: body immutability against the exact parent.
		old, ok, err := a.git.ReadBlob(tip, path)
		if err != nil {
			return nil, nil, nil, unavailable(op, err)
		}
		if ok && !entry.SameBody(string(old), c.Body) {
			d := row(c.Seat, op, "", path, "", "", "denied", schema.Detail("reason", "body immutable; supersede to a new slug"))
			return nil, nil, &d, fault.E(op+".immutability", fault.Denied,
				"%s is immutable on %s: its body differs from the recorded one; supersede to a new slug (supersedes=[%q])",
				path, refs.Perspective(c.Seat), path)
		}
		// T-kip_commit-11: fold reuse guard.
		if vantagePath != "" {
			if _, vok, err := a.git.ReadBlob(tip, vantagePath); err != nil {
				return nil, nil, nil, unavailable(op, err)
			} else if vok {
				info, err := a.git.CommitInfo(tip)
				if err != nil {
					return nil, nil, nil, unavailable(op, err)
				}
				if tipOp, _ := commitmsg.Trailer(info.Message, "op-id"); tipOp != c.OpID {
					d := row(c.Seat, op, "", vantagePath, c.OpID, "", "denied", schema.Detail("reason", "op_id reuse would rewrite a recorded vantage"))
					return nil, nil, &d, fault.E(op+".fold", fault.Denied,
						"op_id %q reuse would rewrite the recorded vantage %s; author under a new op_id", c.OpID, vantagePath)
				}
			}
		}
		n, err := a.git.CountCommits(tip)
		if err != nil {
			return nil, nil, nil, unavailable(op, err)
		}
		depth = n + 1
	}

	title := c.Title
	if title == "" {
		title = c.Slug
	}
	typ := c.Type
	if typ == "" {
		typ = "kno"
	}
	status := c.Status
	if status == "" {
		status = "active"
	}
	// C-env-3, kip_commit entry order.
	env := &entry.Envelope{}
	env.Set("type", typ)
	env.Set("title", title)
	env.Set("status", status)
	env.Set("tags", nonNil(c.Tags))
	env.Set("references", nonNil(c.References))
	if len(c.Supersedes) > 0 {
		env.Set("supersedes", c.Supersedes)
	}
	if len(c.SupersededBy) > 0 {
		env.Set("superseded_by", c.SupersededBy)
	}
	if c.Tick != "" {
		env.Set("tick", c.Tick)
	}
	if c.Thread != "" {
		env.Set("thread", c.Thread)
	}
	if c.AuthoredVia != "" {
		env.Set("authored_via", c.AuthoredVia)
	}
	env.Set("canon_state", c.CanonState)
	env.Set("instance_depth", depth)
	if err := entry.CheckScalars(env); err != nil {
		return nil, nil, nil, err
	}
	changes := []gitstore.Change{{Path: path, Data: []byte(entry.Compose(env, c.Body))}}

	if vantagePath != "" {
		vt := c.HorizonTitle
		if vt == "" {
			vt = "vantage on " + path
		}
		// C-env-3, fold vantage order; pins copied from the entry (T-kip_commit-12).
		venv := &entry.Envelope{}
		venv.Set("type", "vap")
		venv.Set("title", vt)
		venv.Set("status", "active")
		venv.Set("vantage", "confirmed")
		venv.Set("canon_state", c.CanonState)
		venv.Set("instance_depth", depth)
		venv.Set("coordinates", []string{path})
		if err := entry.CheckScalars(venv); err != nil {
			return nil, nil, nil, err
		}
		changes = append(changes, gitstore.Change{Path: vantagePath, Data: []byte(entry.Compose(venv, c.Horizon))})
	}
	return changes, env, nil, nil
}

// nameFork is the name-fork guard (C-names-4, T-common-16a).
// It returns the existing name when it refuses.
func (a *App) nameFork(seat string) (string, error) {
	rs, err := a.git.ListRefs(refs.PerspectivePrefix)
	if err != nil {
		return "", unavailable("name_fork", err)
	}
	for _, r := range rs {
		other, _ := refs.SeatOf(r.Name)
		if other != seat && names.FoldEqual(other, seat) {
			return other, fault.E("name_fork", fault.Denied,
				"perspective %q already exists and differs from the claimed name %q only by case; writing would fork the seat's identity — use %q",
				other, seat, other)
		}
	}
	return "", nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// unavailable wraps an unexpected storage failure.
func unavailable(op string, err error) error {
	if fault.ClassOf(err) != fault.Internal {
		return err
	}
	return fault.Wrap(op, fault.BackendUnavailable, err, "storage operation did NOT complete")
}
