package app

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// Merger is the merge half of the Git port (operations §2.1).
type Merger interface {
	PreviewMerge(oursOID, theirsOID string) (gitstore.MergePreview, error)
	PrepareCandidate(ctx context.Context, req gitstore.CandidateRequest) (string, gitstore.MergePreview, error)
	ChangedPaths(fromOID, toOID string) ([]string, error)
	MergeBase(a, b string) (string, bool, error)
	IsAncestor(a, b string) (bool, error)
	FirstParentChain(tipOID string) ([]string, error)
}

func (a *App) merger() Merger { return a.git.(Merger) }

// snapshot is O-merge-1: canon tip C and proposal tip P, resolved once.
func (a *App) snapshot(op, id string) (c, p string, err error) {
	c, ok, err := a.git.Resolve(a.cfg.CanonRef)
	if err != nil {
		return "", "", unavailable(op, err)
	}
	if !ok {
		return "", "", fault.E(op, fault.RefNotFound, "%s: canon does not exist", a.cfg.CanonRef)
	}
	ref := refs.Proposal(id)
	p, ok, err = a.git.Resolve(ref)
	if err != nil {
		return "", "", unavailable(op, err)
	}
	if !ok {
		return "", "", fault.E(op, fault.RefNotFound, "%s: no such proposal", ref)
	}
	if _, ok, err := a.merger().MergeBase(c, p); err != nil {
		return "", "", unavailable(op, err)
	} else if !ok { // O-merge-2
		return "", "", fault.E(op, fault.MergeConflict, "%s and %s share no history: refusing to merge unrelated histories", ref, a.cfg.CanonRef)
	}
	return c, p, nil
}

// Preview is O-merge-9 (+ O-preview-1 and conflict_preview's attributions); it writes nothing.
func (a *App) Preview(q schema.ProposalQuery) (schema.Preview, error) {
	const op = "preview_merge"
	c, p, err := a.snapshot(op, q.ProposalID)
	if err != nil {
		return schema.Preview{}, err
	}
	pv, err := a.merger().PreviewMerge(c, p)
	if err != nil {
		return schema.Preview{}, err
	}
	return a.describe(pv, c, p, refs.Proposal(q.ProposalID))
}

func (a *App) describe(pv gitstore.MergePreview, c, p, pref string) (schema.Preview, error) {
	const op = "preview_merge"
	out := schema.Preview{
		Conflicts: []string{}, Adds: nonNil(pv.Adds), Removes: nonNil(pv.Removes), Modifies: nonNil(pv.Modifies),
		ChangedPaths: nonNil(pv.Changed), Clean: len(pv.Conflicts) == 0, CanonTip: c, ProposalTip: p,
		LogEntries: []string{}, OriginAuthors: map[string]string{}, ProposedBy: map[string]string{},
	}
	for _, cf := range pv.Conflicts {
		out.Conflicts = append(out.Conflicts, cf.Line(a.cfg.CanonRef, pref))
	}
	for _, path := range append(append([]string{}, out.Adds...), out.Modifies...) {
		if strings.HasPrefix(path, "meta/log/") {
			out.LogEntries = append(out.LogEntries, path)
		}
	}
	seq, err := a.CanonSeq()
	if err != nil {
		return schema.Preview{}, err
	}
	out.ExpectedSeq = hexseq.Next(seq.Seq)
	authors, err := a.authorsSince(c, p)
	if err != nil {
		return schema.Preview{}, unavailable(op, err)
	}
	out.Authors = authors
	for _, path := range out.ChangedPaths {
		data, ok, err := a.git.ReadBlob(p, path)
		if err != nil {
			return schema.Preview{}, unavailable(op, err)
		}
		if !ok {
			continue
		}
		env, _ := entry.Parse(string(data))
		if oa := env.Str("origin_author"); oa != "" {
			out.OriginAuthors[path] = oa
			if h, err := a.git.History(p, path); err == nil && len(h) > 0 {
				out.ProposedBy[path] = h[0].AuthorName
			}
		}
	}
	return out, nil
}

// authorsSince is O-merge-8: sorted distinct authors of commits reachable from p, not from c.
func (a *App) authorsSince(c, p string) ([]string, error) {
	set := map[string]bool{}
	err := a.walk(p, func(ci gitstore.CommitInfo) bool {
		if in, _ := a.merger().IsAncestor(ci.OID, c); in {
			return false
		}
		if ci.AuthorName != "" {
			set[ci.AuthorName] = true
		}
		return true
	})
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, err
}

// ProposalStatuses is C-prop-3 for every proposal, in ref order.
func (a *App) ProposalStatuses() (schema.ProposalStatuses, error) {
	const op = "proposal_statuses"
	rs, err := a.git.ListRefs(refs.ProposalPrefix)
	if err != nil {
		return schema.ProposalStatuses{}, unavailable(op, err)
	}
	out := schema.ProposalStatuses{Proposals: []string{}, Statuses: map[string]schema.ProposalStatus{}}
	canon, hasCanon, err := a.git.Resolve(a.cfg.CanonRef)
	if err != nil {
		return out, unavailable(op, err)
	}
	pos := map[string]int{}
	var chain []string
	if hasCanon {
		if chain, err = a.merger().FirstParentChain(canon); err != nil {
			return out, unavailable(op, err)
		}
		for i, o := range chain {
			pos[o] = i
		}
	}
	behind := func(o string) *int {
		if i, ok := pos[o]; ok {
			d := len(chain) - 1 - i
			return &d
		}
		return nil
	}
	for _, r := range rs {
		id, _ := refs.ProposalOf(r.Name)
		out.Proposals = append(out.Proposals, id)
		info, err := a.git.CommitInfo(r.OID)
		if err != nil {
			return out, unavailable(op, err)
		}
		if reason, closed := commitmsg.CloseReason(commitmsg.Subject(info.Message)); closed {
			out.Statuses[id] = schema.ProposalStatus{Status: "closed", ClosedReason: reason}
			continue
		}
		if !hasCanon {
			out.Statuses[id] = schema.ProposalStatus{Status: "open"}
			continue
		}
		if d := behind(r.OID); d != nil {
			out.Statuses[id] = schema.ProposalStatus{Status: "open", LandsBehind: d}
			continue
		}
		if anc, err := a.merger().IsAncestor(r.OID, canon); err != nil {
			return out, unavailable(op, err)
		} else if anc {
			out.Statuses[id] = schema.ProposalStatus{Status: "landed"}
			continue
		}
		st := schema.ProposalStatus{Status: "open"}
		if base, ok, err := a.merger().MergeBase(canon, r.OID); err != nil {
			return out, unavailable(op, err)
		} else if ok {
			st.LandsBehind = behind(base)
		}
		out.Statuses[id] = st
	}
	return out, nil
}

// Landed is what the landing routine did in git; the service then appends the row, waits for
// it, and anchors (O-land-5…8).
type Landed struct {
	OID, Seq, ProposalRef string
	Parent                string // the merge's first parent: canon before the land
	Tagged                bool
}

// Land runs O-land-1…6 in git: prepare (refusing conflicts and removals), bind the approval,
// validate the one log entry against the current canon, move canon by CAS, tag the state.
func (a *App) Land(ctx context.Context, c schema.Land) (Landed, []schema.AuditIntent, error) {
	const op = "land"
	if !a.isApprover(c.ApprovedBy) {
		return Landed{}, nil, fault.E(op+".approver", fault.MergeNotApproved, "%q is not an approver (configured: %s)", c.ApprovedBy, strings.Join(a.cfg.Approvers, ", "))
	}
	canon, p, err := a.snapshot(op, c.ProposalID)
	if err != nil {
		return Landed{}, nil, err
	}
	pref := refs.Proposal(c.ProposalID)
	var cand string
	if c.Candidate != "" {
		// An approval binds the exact candidate it approved (INV-14): the staged merge of
		// these very tips, or nothing.
		info, err := a.git.CommitInfo(c.Candidate)
		if err != nil || len(info.Parents) != 2 || info.Parents[0] != canon || info.Parents[1] != p {
			return Landed{}, nil, fault.E(op+".bind", fault.MergeNotApproved,
				"the approval of %s does not bind the current merge of %s into %s (canon %s, proposal %s)", c.Candidate, pref, a.cfg.CanonRef, canon, p)
		}
		cand = c.Candidate
	} else {
		var err error
		cand, _, err = a.merger().PrepareCandidate(ctx, gitstore.CandidateRequest{
			Ours: canon, Theirs: p,
			Message:    fmt.Sprintf("Merge %s into %s\n\napproved-by: <pending>", pref, a.cfg.CanonRef),
			AuthorName: a.cfg.CommitterName, AuthorEmail: a.cfg.CommitterName + "@stasima.local",
		})
		if err != nil {
			return Landed{}, nil, err
		}
	}
	seq, err := a.validateLog(canon, cand)
	if err != nil {
		return Landed{}, nil, err
	}
	if err := a.git.SetRef(ctx, a.cfg.CanonRef, cand, canon); err != nil {
		return Landed{}, nil, err
	}
	out := Landed{OID: cand, Seq: seq, ProposalRef: pref, Parent: canon}
	if err := a.git.SetRef(ctx, refs.StateTag(seq), cand, ""); err != nil {
		return out, nil, err
	}
	out.Tagged = true
	rows := []schema.AuditIntent{row(c.ApprovedBy, "land_merge", a.cfg.CanonRef, "", "land-"+cand[:12], cand, "ok",
		schema.Detail("proposal", pref, "seq", seq, "evidence", c.Evidence))}
	return out, withSession(rows, c.Session), nil // a land_approve call's row carries its session tag (U-20)
}

func (a *App) isApprover(name string) bool {
	for _, ap := range a.cfg.Approvers {
		if ap == name {
			return true
		}
	}
	return false
}

// validateLog is O-land-3 against the current canon tip k and the candidate.
func (a *App) validateLog(k, cand string) (string, error) {
	const op = "land.validate"
	changed, err := a.merger().ChangedPaths(k, cand)
	if err != nil {
		return "", unavailable(op, err)
	}
	var logs []string
	for _, p := range changed {
		if strings.HasPrefix(p, "meta/log/") {
			logs = append(logs, p)
		}
	}
	cur, err := a.CanonSeq()
	if err != nil {
		return "", err
	}
	want := hexseq.Next(cur.Seq)
	if len(logs) != 1 {
		list := "none"
		if len(logs) > 0 {
			list = strings.Join(logs, ", ")
		}
		return "", fault.E(op, fault.ValidationError,
			"a land carries exactly one log entry; found %d: %s — propose(domain='meta/log', slug='%s', type='log', seq='%s')", len(logs), list, want, want)
	}
	path := logs[0]
	data, _, err := a.git.ReadBlob(cand, path)
	if err != nil {
		return "", unavailable(op, err)
	}
	env, _ := entry.Parse(string(data))
	seq := strings.ToLower(env.Str("seq"))
	if !hexseq.Valid(seq) {
		return "", fault.E(op, fault.ValidationError, "log entry %s has seq %q, which is not hex", path, env.Str("seq"))
	}
	stem := strings.TrimPrefix(path, "meta/log/")
	stem = stem[:len(stem)-3]
	if stem != seq {
		return "", fault.E(op, fault.ValidationError, "log entry %s: its name %q and its seq %q differ", path, stem, seq)
	}
	n, _ := hexseq.Parse(seq)
	if n != cur.Seq+1 {
		return "", fault.E(op, fault.ValidationError,
			"log entry %s is %s but canon is at %s, so the next land is %s: re-pull (canon_diff), reconcile, renumber and retract the stale entry with propose_retract",
			path, hexseq.Display(n), hexseq.Display(cur.Seq), hexseq.Display(cur.Seq+1))
	}
	return seq, nil
}

// ChangedPaths answers the exact paths differing between two commits (D-15).
func (a *App) ChangedPaths(q schema.ChangedPathsQuery) (schema.ChangedPathsAnswer, error) {
	paths, err := a.merger().ChangedPaths(q.From, q.To)
	if err != nil {
		return schema.ChangedPathsAnswer{}, unavailable("changed_paths", err)
	}
	return schema.ChangedPathsAnswer{Paths: nonNil(paths)}, nil
}

// ResumeOrLand lands, or — when canon's tip already is this proposal's merge without its
// state tag finished (a redelivered or interrupted land, O-land-10) — resumes it.
func (a *App) ResumeOrLand(ctx context.Context, c schema.Land) (Landed, []schema.AuditIntent, error) {
	pref := refs.Proposal(c.ProposalID)
	canon, ok, err := a.git.Resolve(a.cfg.CanonRef)
	if err != nil {
		return Landed{}, nil, unavailable("land", err)
	}
	if ok {
		info, err := a.git.CommitInfo(canon)
		if err != nil {
			return Landed{}, nil, unavailable("land", err)
		}
		p, _, _ := a.git.Resolve(pref)
		if len(info.Parents) == 2 && info.Parents[1] == p && strings.HasPrefix(commitmsg.Subject(info.Message), "Merge "+pref+" into ") {
			seq, err := a.logSeqOf(info.Parents[0], canon)
			if err != nil {
				return Landed{}, nil, err
			}
			if err := a.git.SetRef(ctx, refs.StateTag(seq), canon, ""); err != nil {
				return Landed{}, nil, err
			}
			rows := []schema.AuditIntent{row(c.ApprovedBy, "land_merge", a.cfg.CanonRef, "", "land-"+canon[:12], canon, "ok",
				schema.Detail("proposal", pref, "seq", seq, "evidence", c.Evidence))}
			return Landed{OID: canon, Seq: seq, ProposalRef: pref, Parent: info.Parents[0], Tagged: true}, withSession(rows, c.Session), nil
		}
	}
	return a.Land(ctx, c)
}

// logSeqOf reads the seq of the one log entry a merge brought (for resuming a land).
func (a *App) logSeqOf(parent, merge string) (string, error) {
	changed, err := a.merger().ChangedPaths(parent, merge)
	if err != nil {
		return "", unavailable("land", err)
	}
	for _, p := range changed {
		if strings.HasPrefix(p, "meta/log/") {
			data, _, err := a.git.ReadBlob(merge, p)
			if err != nil {
				return "", unavailable("land", err)
			}
			env, _ := entry.Parse(string(data))
			return strings.ToLower(env.Str("seq")), nil
		}
	}
	return "", fault.E("land", fault.ValidationError, "the merge %s carries no log entry", merge)
}

// PrepareMerge is O-merge-10: the candidate for a proposal, written unreferenced (refusing
// conflicts and removals), with the preview and the log validation a stage needs (airlock).
func (a *App) PrepareMerge(ctx context.Context, q schema.ProposalQuery) (schema.Prepared, error) {
	const op = "prepare_merge"
	canon, p, err := a.snapshot(op, q.ProposalID)
	if err != nil {
		return schema.Prepared{}, err
	}
	pref := refs.Proposal(q.ProposalID)
	cand, pv, err := a.merger().PrepareCandidate(ctx, gitstore.CandidateRequest{
		Ours: canon, Theirs: p,
		Message:    fmt.Sprintf("Merge %s into %s\n\napproved-by: <pending>", pref, a.cfg.CanonRef),
		AuthorName: a.cfg.CommitterName, AuthorEmail: a.cfg.CommitterName + "@stasima.local",
	})
	if err != nil {
		return schema.Prepared{}, err
	}
	seq, err := a.validateLog(canon, cand)
	if err != nil {
		return schema.Prepared{}, err
	}
	changed := append(append([]string{}, pv.Adds...), pv.Modifies...)
	sort.Strings(changed)
	return schema.Prepared{Candidate: cand, Into: a.cfg.CanonRef, ProposalRef: pref, CanonTip: canon, Seq: seq, ChangedPaths: nonNil(changed)}, nil
}
