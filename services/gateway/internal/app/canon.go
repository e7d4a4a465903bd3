package app

import (
	"context"
	"sort"
	"strings"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

func (a *App) proposalInfo(ctx context.Context, id string) (schema.ProposalInfo, error) {
	var info schema.ProposalInfo
	err := a.be.Query(ctx, bus.Capstore, schema.QProposalInfo, schema.ProposalQuery{ProposalID: id}, &info)
	return info, err
}

// propose runs T-propose-1…12 and sends the write to capstore (T-propose-13…16).
func (a *App) propose(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	const op = "propose"
	seat := args.String("instance_id")
	if err := names.ValidateSeat(seat); err != nil {
		return nil, err
	}
	id := args.String("proposal_id")
	if err := names.ValidateProposalID(id); err != nil {
		return nil, err
	}
	domain, slug := args.String("domain"), args.String("slug")
	// T-propose-2.
	if strings.HasPrefix(domain, "/") || strings.HasSuffix(domain, "/") || strings.Contains(domain+"/"+slug, "//") {
		return nil, fault.E(op+".slash", fault.Denied, "domain %q: no leading or trailing '/' and no double slash in %q", domain, domain+"/"+slug)
	}
	if err := names.ValidateDomain(domain); err != nil {
		return nil, err
	}
	if _, err := names.EntryPath(domain, slug); err != nil {
		return nil, err
	}
	opID := args.String("op_id")
	if err := names.ValidateOpID(opID); err != nil {
		return nil, err
	}
	if body := args.String("body"); a.cfg.MaxBodyBytes > 0 && len(body) > a.cfg.MaxBodyBytes {
		return nil, fault.E(op+".body", fault.ArgumentError, "body is %d bytes, over the cap of %d bytes (max_body_bytes)", len(body), a.cfg.MaxBodyBytes)
	}
	entryPath := domain + "/" + slug + ".md"
	if err := a.authz(ctx, s, seat, op, refs.Proposal(id), entryPath); err != nil { // T-propose-3
		return nil, err
	}
	authoredVia, err := a.bindCheck(ctx, s, op, seat, refs.Proposal(id), entryPath) // T-propose-4
	if err != nil {
		return nil, err
	}
	if err := a.frozen(ctx, op, id); err != nil { // T-propose-5
		return nil, err
	}
	info, err := a.proposalInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.Closed { // T-propose-6
		return nil, fault.E(op+".closed", fault.Denied, "proposal %s is closed (%s); closed is terminal for seats", id, info.ClosedReason)
	}
	canon, err := a.tip(ctx, a.cfg.CanonRef)
	if err != nil {
		return nil, err
	}
	if canon == "" { // T-propose-8, D-11
		return nil, fault.E(op, fault.RefNotFound, "%s: canon does not exist yet", a.cfg.CanonRef)
	}
	// T-propose-7: the reconcile gate checks the file on the perspective.
	rec, err := a.readBlob(ctx, refs.Perspective(seat), "state/reconciled-"+canon[:12]+".md")
	if err != nil {
		return nil, err
	}
	if !rec.Found {
		err := fault.E(op+".reconcile", fault.Denied,
			"reconcile with current canon %s before proposing: run canon_diff, then sup_reconcile", canon[:12])
		return nil, a.deny(ctx, s, schema.AuditIntent{Actor: seat, Op: op, TargetRef: schema.S(a.cfg.CanonRef),
			Detail: schema.Detail("reason", "not reconciled with current canon", "canon_tip", canon)}, err)
	}
	seq := strings.ToLower(args.String("seq"))
	if domain == "meta/log" { // T-propose-9/10, C-log-5
		if !hexseq.Valid(seq) {
			return nil, fault.E(op+".seq", fault.Denied, "a log entry needs seq= as hex; got seq %q — use next_seq from canon_state", args.String("seq"))
		}
		if slug != seq {
			return nil, fault.E(op+".seq", fault.Denied, "log slug %q must equal seq %q: the entry is meta/log/%s.md", slug, seq, seq)
		}
	}
	// T-propose-11: the cross-propose attribution guard.
	path := domain + "/" + slug + ".md"
	matched := map[string]string{}
	authors, err := a.authorsOf(ctx, path)
	if err != nil {
		return nil, err
	}
	for _, au := range authors {
		if au != "" && au != seat {
			matched[au] = path
		}
	}
	byBody, err := a.authorsOfBody(ctx, args.String("body"))
	if err != nil {
		return nil, err
	}
	for _, x := range byBody {
		if _, ok := matched[x.Author]; !ok && x.Author != seat && x.Author != "" {
			matched[x.Author] = x.Path
		}
	}
	if len(matched) > 0 {
		names := make([]string, 0, len(matched))
		for au := range matched {
			names = append(names, au)
		}
		sort.Strings(names)
		origin := args.String("origin_author")
		if origin == "" {
			list := make([]string, len(names))
			for i, au := range names {
				list[i] = au + " (" + matched[au] + ")"
			}
			err := fault.E(op+".cross", fault.Denied,
				"this carries another seat's work: %s — propose it with origin_author=<that seat>", strings.Join(list, ", "))
			return nil, a.deny(ctx, s, schema.AuditIntent{Actor: seat, Op: op, TargetRef: schema.S(refs.Proposal(id)), TargetPath: schema.S(path),
				Detail: schema.Detail("reason", "cross-propose without origin_author", "matched", names)}, err)
		}
		if _, ok := matched[origin]; !ok {
			return nil, fault.E(op+".cross", fault.Denied, "origin_author %q is not among the seats whose work this matches: %s", origin, strings.Join(names, ", "))
		}
	}
	thread := args.String("thread")
	if thread != "" && !threadForm(thread) {
		return nil, fault.E(op+".thread", fault.Denied, "thread %q is not ref-safe: 1-64 characters of a-z, 0-9 and '-', not starting with '-'", thread)
	}
	cursor, err := a.cursor(ctx, seat)
	if err != nil {
		return nil, err
	}
	cmd := schema.Propose{
		Actor: schema.Actor{Seat: seat, Session: s.ID}, ProposalID: id, OpID: opID, Domain: domain, Slug: slug,
		Body: args.String("body"), Title: args.String("title"), Type: args.String("type"), Status: args.String("status"),
		Seq: seq, Tags: args.Strings("tags"), References: args.Strings("references"), Supersedes: args.Strings("supersedes"),
		SupersededBy: args.Strings("superseded_by"), OriginAuthor: args.String("origin_author"), Thread: thread, CanonState: cursor,
		AuthoredVia: authoredVia,
	}
	var res schema.ProposeResult
	if err := a.be.Do(ctx, command(bus.Capstore, schema.CmdPropose, "propose/"+id+"/"+opID, opID, s.ID, cmd), &res); err != nil {
		return nil, err
	}
	return res, nil
}

func (a *App) proposeRetract(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	seat, id, path, opID := args.String("instance_id"), args.String("proposal_id"), args.String("path"), args.String("op_id")
	for _, err := range []error{names.ValidateSeat(seat), names.ValidateProposalID(id), names.ValidatePath(path), names.ValidateOpID(opID)} {
		if err != nil {
			return nil, err
		}
	}
	if err := a.authz(ctx, s, seat, "propose", refs.Proposal(id), path); err != nil { // T-propose_retract-1
		return nil, err
	}
	if _, err := a.bindCheck(ctx, s, "propose_retract", seat, refs.Proposal(id), path); err != nil { // T-propose_retract-2
		return nil, err
	}
	if err := a.frozen(ctx, "propose_retract", id); err != nil { // T-propose_retract-3
		return nil, err
	}
	var res schema.ProposeRetractResult
	err := a.be.Do(ctx, command(bus.Capstore, schema.CmdProposeRetract, "propose_retract/"+id+"/"+opID, opID, s.ID,
		schema.ProposeRetract{Actor: schema.Actor{Seat: seat, Session: s.ID}, ProposalID: id, Path: path, OpID: opID}), &res)
	return res, err
}

func (a *App) proposeClose(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	seat, id, opID := args.String("instance_id"), args.String("proposal_id"), args.String("op_id")
	for _, err := range []error{names.ValidateSeat(seat), names.ValidateProposalID(id), names.ValidateOpID(opID)} {
		if err != nil {
			return nil, err
		}
	}
	if err := a.authz(ctx, s, seat, "propose", refs.Proposal(id), "close/"+id); err != nil { // T-propose_close-1
		return nil, err
	}
	if _, err := a.bindCheck(ctx, s, "propose_close", seat, refs.Proposal(id), "close/"+id); err != nil { // T-propose_close-2
		return nil, err
	}
	if err := a.frozen(ctx, "propose_close", id); err != nil { // T-propose_close-3
		return nil, err
	}
	approver := false
	for _, ap := range a.cfg.Approvers {
		approver = approver || ap == seat
	}
	var res schema.ProposeCloseResult
	err := a.be.Do(ctx, command(bus.Capstore, schema.CmdProposeClose, "propose_close/"+id+"/"+opID, opID, s.ID,
		schema.ProposeClose{Actor: schema.Actor{Seat: seat, Session: s.ID}, ProposalID: id, Reason: args.String("reason"), OpID: opID, Approver: approver}), &res)
	return res, err
}

// diffItem is one changed path of canon_diff: {path, removed: true} for a path canon no longer
// holds, else {path, title, type, status} with "" for an absent field (T-canon_diff-4).
type diffItem struct {
	Path    string  `json:"path"`
	Title   *string `json:"title,omitempty"`
	Type    *string `json:"type,omitempty"`
	Status  *string `json:"status,omitempty"`
	Removed bool    `json:"removed,omitempty"`
}

type logItem struct {
	Path string `json:"path"`
	Body string `json:"body"`
}

type canonDiffResult struct {
	CanonTip     *string    `json:"canon_tip"`
	From         *string    `json:"from"`
	ChangedCount int        `json:"changed_count"`
	Changed      []diffItem `json:"changed"`
	Logs         []logItem  `json:"logs"`
}

// canonDiff is T-canon_diff-1…6: the pull that advances the caller's cursor.
func (a *App) canonDiff(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	seat := args.String("instance_id")
	if err := names.ValidateSeat(seat); err != nil {
		return nil, err
	}
	if _, err := a.bindCheck(ctx, s, "canon_diff", seat, "", ""); err != nil { // T-canon_diff-1
		return nil, err
	}
	tip, err := a.tip(ctx, a.cfg.CanonRef)
	if err != nil {
		return nil, err
	}
	prev, err := a.cursor(ctx, seat)
	if err != nil {
		return nil, err
	}
	paths := []string{}
	switch {
	case tip == "":
	case prev == "":
		var lp schema.ListPathsAnswer
		if err := a.be.Query(ctx, bus.Capstore, schema.QListPaths, schema.RefQuery{Ref: a.cfg.CanonRef}, &lp); err != nil {
			return nil, err
		}
		paths = lp.Paths
	case prev != tip:
		var cp schema.ChangedPathsAnswer
		if err := a.be.Query(ctx, bus.Capstore, schema.QChangedPaths, schema.ChangedPathsQuery{From: prev, To: tip}, &cp); err != nil {
			return nil, err
		}
		paths = cp.Paths
	}
	res := canonDiffResult{CanonTip: nullable(tip), From: nullable(prev), Changed: []diffItem{}, Logs: []logItem{}}
	var blobs []schema.PathBlob
	if tip != "" {
		if blobs, err = a.readBlobs(ctx, tip, paths); err != nil {
			return nil, err
		}
	}
	for i, p := range paths {
		b := blobs[i]
		if !b.Found {
			res.Changed = append(res.Changed, diffItem{Path: p, Removed: true})
			continue
		}
		env, body := parseEntry(b.Data)
		res.Changed = append(res.Changed, diffItem{Path: p, Title: new(env.Str("title")), Type: new(env.Str("type")), Status: new(env.Str("status"))})
		if env.Str("type") == "log" {
			res.Logs = append(res.Logs, logItem{Path: p, Body: body})
		}
	}
	res.ChangedCount = len(res.Changed)
	// T-canon_diff-5: the pull is an audit fact, awaited so the next sup_reconcile sees it.
	in := schema.AuditIntent{ID: "gw/pull/" + seat + "/" + newID(), Actor: seat, Op: "canon_pull", TargetRef: schema.S(a.cfg.CanonRef),
		ResultOID: schema.S(tip), Outcome: "ok", Detail: schema.Detail("from", nullable(prev), "changed", paths), Session: s.ID}
	if err := a.be.PublishIntents(ctx, []schema.AuditIntent{in}); err != nil {
		return nil, err
	}
	a.be.Await(ctx, []string{in.ID})
	return res, nil
}

// supReconcile is T-sup_reconcile-1…3; capstore writes the report (rules 4–7).
func (a *App) supReconcile(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	const op = "sup_reconcile"
	seat := args.String("instance_id")
	if err := names.ValidateSeat(seat); err != nil {
		return nil, err
	}
	authoredVia, err := a.bindCheck(ctx, s, op, seat, "", "") // T-sup_reconcile-1
	if err != nil {
		return nil, err
	}
	tip, err := a.tip(ctx, a.cfg.CanonRef)
	if err != nil {
		return nil, err
	}
	if tip == "" {
		return nil, fault.E(op, fault.RefNotFound, "%s: canon does not exist yet", a.cfg.CanonRef)
	}
	cursor, err := a.cursor(ctx, seat)
	if err != nil {
		return nil, err
	}
	if cursor != tip {
		return nil, fault.E(op+".pull", fault.Denied, "pull current canon first: your cursor is %s, canon is at %s — run canon_diff", orNone(cursor), tip[:12])
	}
	var res schema.SupReconcileResult
	err = a.be.Do(ctx, command(bus.Capstore, schema.CmdSupReconcile, "sup_reconcile/"+seat+"/"+tip, "reconcile-"+tip[:12], s.ID,
		schema.SupReconcile{Actor: schema.Actor{Seat: seat, Session: s.ID}, CanonTip: tip, Body: args.String("body"), CanonState: cursor, AuthoredVia: authoredVia}), &res)
	return res, err
}

func orNone(s string) string {
	if s == "" {
		return "none (never pulled)"
	}
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

type supStateResult struct {
	Instance         string            `json:"instance"`
	PerspectiveTip   *string           `json:"perspective_tip"`
	StateEntries     []string          `json:"state_entries"`
	Ticks            map[string]string `json:"ticks"`
	CanonCursor      *string           `json:"canon_cursor"`
	CurrentWithCanon bool              `json:"current_with_canon"`
}

// supState is T-sup_state-1 (ticks come from the index; until it serves them, from the
// entries themselves).
func (a *App) supState(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	seat := args.String("instance_id")
	ref := refs.Perspective(seat)
	tip, err := a.tip(ctx, ref)
	if err != nil {
		return nil, err
	}
	res := supStateResult{Instance: seat, PerspectiveTip: nullable(tip), StateEntries: []string{}, Ticks: map[string]string{}}
	if tip != "" {
		var lp schema.ListPathsAnswer
		if err := a.be.Query(ctx, bus.Capstore, schema.QListPaths, schema.RefQuery{Ref: ref}, &lp); err != nil {
			return nil, err
		}
		for _, p := range lp.Paths {
			if !strings.HasPrefix(p, "state/") {
				continue
			}
			res.StateEntries = append(res.StateEntries, p)
			var b schema.BlobAnswer
			if err := a.be.Query(ctx, bus.Capstore, schema.QReadBlob, schema.BlobQuery{OID: tip, Path: p}, &b); err != nil {
				return nil, err
			}
			if env, _ := parseEntry(b.Data); env.Str("tick") != "" {
				res.Ticks[p] = env.Str("tick")
			}
		}
	}
	cursor, err := a.cursor(ctx, seat)
	if err != nil {
		return nil, err
	}
	canon, err := a.tip(ctx, a.cfg.CanonRef)
	if err != nil {
		return nil, err
	}
	res.CanonCursor, res.CurrentWithCanon = nullable(cursor), cursor == canon
	return res, nil
}

type attribution struct {
	Authored string `json:"authored"`
	Proposed string `json:"proposed"`
}

type conflictPreviewResult struct {
	Conflicts        bool                   `json:"conflicts"`
	ConflictDetail   []string               `json:"conflict_detail"`
	ChangedPaths     []string               `json:"changed_paths"`
	Adds             []string               `json:"adds"`
	Removes          []string               `json:"removes"`
	Modifies         []string               `json:"modifies"`
	DeltaBasis       string                 `json:"delta_basis"`
	WouldRemoveCanon bool                   `json:"would_remove_canon"`
	Attributions     map[string]attribution `json:"attributions"`
}

// conflictPreview is T-conflict_preview-1/2: a dry-run merge against canon_ref (D-4).
func (a *App) conflictPreview(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	var pv schema.Preview
	if err := a.be.Query(ctx, bus.Capstore, schema.QPreviewMerge, schema.ProposalQuery{ProposalID: args.String("proposal_id")}, &pv); err != nil {
		return nil, err
	}
	res := conflictPreviewResult{
		Conflicts: !pv.Clean, ConflictDetail: pv.Conflicts, ChangedPaths: pv.ChangedPaths,
		Adds: pv.Adds, Removes: pv.Removes, Modifies: pv.Modifies, DeltaBasis: "candidate",
		WouldRemoveCanon: pv.Clean && len(pv.Removes) > 0, Attributions: map[string]attribution{},
	}
	if !pv.Clean {
		res.DeltaBasis = "proposal-since-base"
	}
	for p, oa := range pv.OriginAuthors {
		res.Attributions[p] = attribution{Authored: oa, Proposed: pv.ProposedBy[p]}
	}
	return res, nil
}

// listProposals is C-prop-3 / T-list_proposals-1/2.
func (a *App) listProposals(ctx context.Context, _ toolspec.Args, _ Session) (any, error) {
	var st schema.ProposalStatuses
	err := a.be.Query(ctx, bus.Capstore, schema.QProposalStatuses, nil, &st)
	return st, err
}
