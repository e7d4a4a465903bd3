package app

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// anchorFile is the one file of the anchor tree (U-50).
const anchorFile = "audit-head.json"

// Anchor commits {seq, head} on refs/cap/audit-anchor (U-50): author system, op_id
// anchor-<head12>, expected parent the anchor's tip; an unchanged head replays.
func (a *App) Anchor(ctx context.Context, c schema.Anchor) (schema.AnchorResult, error) {
	const op = "anchor"
	if len(c.Head) != 64 {
		return schema.AnchorResult{}, fault.E(op, fault.ArgumentError, "head %q is not a 64-hex audit hash", c.Head)
	}
	body := fmt.Sprintf(`{"seq":%d,"head":%q}`, c.Seq, c.Head)
	opID := "anchor-" + c.Head[:12]
	for attempt := 1; ; attempt++ {
		tip, _, err := a.git.Resolve(refs.AuditAnchor)
		if err != nil {
			return schema.AnchorResult{}, unavailable(op, err)
		}
		res, err := a.git.Commit(ctx, gitstore.CommitRequest{
			Ref: refs.AuditAnchor, Parent: tip,
			Changes:    []gitstore.Change{{Path: anchorFile, Data: []byte(body)}},
			AuthorName: "system", AuthorEmail: "system@stasima.local",
			Message: commitmsg.Seat(fmt.Sprintf("audit anchor @ seq %d", c.Seq), opID, "system"),
			OpID:    opID,
		})
		if fault.Is(err, fault.StaleRef) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return schema.AnchorResult{}, err
		}
		return schema.AnchorResult{Found: true, Seq: c.Seq, Head: c.Head, OID: res.OID, Replayed: res.Replayed}, nil
	}
}

// AnchorHead reads audit-head.json at the anchor's tip; Found=false without an anchor.
func (a *App) AnchorHead() (schema.AnchorResult, error) {
	tip, ok, err := a.git.Resolve(refs.AuditAnchor)
	if err != nil {
		return schema.AnchorResult{}, unavailable("anchor_head", err)
	}
	if !ok {
		return schema.AnchorResult{}, nil
	}
	data, ok, err := a.git.ReadBlob(tip, anchorFile)
	if err != nil {
		return schema.AnchorResult{}, unavailable("anchor_head", err)
	}
	if !ok {
		return schema.AnchorResult{}, fault.E("anchor_head", fault.PathNotFound, "%s at %s has no %s", refs.AuditAnchor, tip, anchorFile)
	}
	var v struct {
		Seq  int64  `json:"seq"`
		Head string `json:"head"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return schema.AnchorResult{}, fault.Wrap("anchor_head", fault.ValidationError, err, "%s at %s is not {seq, head}", anchorFile, tip)
	}
	return schema.AnchorResult{Found: true, Seq: v.Seq, Head: v.Head, OID: tip}, nil
}

// CommitOps lists, for reconcile-from-git (U-40), every commit carrying an op-id trailer:
// refs = canon (if any), then perspectives, then proposals, in ref order; per ref every
// reachable commit, newest first by commit time. A commit already listed under an earlier ref
// is not listed again (its op_id is known by then).
func (a *App) CommitOps() (schema.CommitOpsAnswer, error) {
	const op = "commit_ops"
	var scan []gitstore.Ref
	if oid, ok, err := a.git.Resolve(a.cfg.CanonRef); err != nil {
		return schema.CommitOpsAnswer{}, unavailable(op, err)
	} else if ok {
		scan = append(scan, gitstore.Ref{Name: a.cfg.CanonRef, OID: oid})
	}
	for _, prefix := range []string{refs.PerspectivePrefix, refs.ProposalPrefix} {
		rs, err := a.git.ListRefs(prefix)
		if err != nil {
			return schema.CommitOpsAnswer{}, unavailable(op, err)
		}
		scan = append(scan, rs...)
	}
	out := schema.CommitOpsAnswer{Commits: []schema.CommitOp{}}
	seen := map[string]bool{}
	for _, r := range scan {
		var commits []gitstore.CommitInfo
		stack := []string{r.OID}
		for len(stack) > 0 {
			oid := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[oid] {
				continue
			}
			seen[oid] = true
			info, err := a.git.CommitInfo(oid)
			if err != nil {
				return schema.CommitOpsAnswer{}, unavailable(op, err)
			}
			commits = append(commits, info)
			stack = append(stack, info.Parents...)
		}
		sort.SliceStable(commits, func(i, j int) bool { return commits[i].Time.After(commits[j].Time) })
		for _, c := range commits {
			if opID, ok := commitmsg.Trailer(c.Message, commitmsg.OpIDKey); ok && opID != "" {
				out.Commits = append(out.Commits, schema.CommitOp{
					Ref: r.Name, OID: c.OID, OpID: opID, Author: commitmsg.Author(c.Message, c.AuthorName),
				})
			}
		}
	}
	return out, nil
}
