package app

import (
	"context"
	"path"
	"strings"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/hexseq"
	"github.com/stasima/stasima/pkg/names"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

var threadForm = func(s string) bool {
	if len(s) < 1 || len(s) > 64 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// kipCommit runs T-kip_commit-1…7 and sends the rest to capstore.
func (a *App) kipCommit(ctx context.Context, args toolspec.Args, s Session) (any, error) {
	const op = "kip_commit"
	seat := args.String("instance_id")
	// D-33: the claimed name is validated before anything else (and before binding).
	if err := names.ValidateSeat(seat); err != nil {
		return nil, err
	}
	domain, slug := args.String("domain"), args.String("slug")
	if err := names.ValidateDomain(domain); err != nil {
		return nil, err
	}
	if err := names.ValidateSlug(slug); err != nil {
		return nil, err
	}
	p, err := names.EntryPath(domain, slug)
	if err != nil {
		return nil, err
	}
	opID := args.String("op_id")
	if err := names.ValidateOpID(opID); err != nil {
		return nil, err
	}
	// T-kip_commit-2 (I-40): messages and vantages have their own tools.
	if err := a.authz(ctx, s, seat, op, refs.Perspective(seat), p); err != nil {
		return nil, err
	}
	// T-kip_commit-3.
	authoredVia, err := a.bindCheck(ctx, s, op, seat, refs.Perspective(seat), p)
	if err != nil {
		return nil, err
	}
	body := args.String("body")
	if a.cfg.MaxBodyBytes > 0 && len(body) > a.cfg.MaxBodyBytes {
		// D-37.
		return nil, fault.E(op+".body", fault.ArgumentError,
			"body is %d bytes, over the cap of %d bytes (max_body_bytes)", len(body), a.cfg.MaxBodyBytes)
	}
	if h := args.String("horizon"); a.cfg.MaxBodyBytes > 0 && len(h) > a.cfg.MaxBodyBytes {
		return nil, fault.E(op+".horizon", fault.ArgumentError,
			"horizon is %d bytes, over the cap of %d bytes (max_body_bytes)", len(h), a.cfg.MaxBodyBytes)
	}
	tick := args.String("tick")
	if tick != "" {
		// T-kip_commit-4.
		tick = strings.TrimLeft(strings.ToLower(tick), ":")
		if domain != "state" {
			return nil, fault.E(op+".tick", fault.Denied, "tick= is only for entries under state/ (domain is %q)", domain)
		}
		if !hexseq.Valid(tick) {
			return nil, fault.E(op+".tick", fault.Denied, "tick %q is not a hex clock label (digits 0-9a-f, optional leading ::)", args.String("tick"))
		}
	}
	thread := args.String("thread")
	if thread != "" && !threadForm(thread) {
		// T-kip_commit-5, S-60.
		return nil, fault.E(op+".thread", fault.Denied,
			"thread %q is not ref-safe: 1-64 characters of a-z, 0-9 and '-', not starting with '-'", thread)
	}
	for _, item := range [][]string{args.Strings("tags"), args.Strings("references"), args.Strings("supersedes"), args.Strings("superseded_by")} {
		for _, v := range item {
			if strings.Contains(v, "---") {
				return nil, fault.E(op+".envelope", fault.Denied, "envelope value %q contains \"---\", which would corrupt the front-matter (D-24)", v)
			}
		}
	}
	for _, k := range []string{"title", "type", "status", "horizon_title"} {
		if strings.Contains(args.String(k), "---") {
			return nil, fault.E(op+".envelope", fault.Denied, "%s %q contains \"---\", which would corrupt the front-matter (D-24)", k, args.String(k))
		}
	}

	cursor, err := a.cursor(ctx, seat)
	if err != nil {
		return nil, err
	}
	cmd := schema.KipCommit{
		Actor: schema.Actor{Seat: seat, Session: s.ID},
		OpID:  opID, Domain: domain, Slug: slug, Body: body,
		Title: args.String("title"), Type: args.String("type"), Status: args.String("status"),
		Tags: args.Strings("tags"), References: args.Strings("references"),
		Supersedes: args.Strings("supersedes"), SupersededBy: args.Strings("superseded_by"),
		Horizon: args.String("horizon"), HorizonTitle: args.String("horizon_title"),
		Tick: tick, Thread: thread, CanonState: cursor, AuthoredVia: authoredVia,
	}
	var res schema.KipCommitResult
	err = a.be.Do(ctx, command(bus.Capstore, schema.CmdKipCommit, "kip_commit/"+seat+"/"+opID, opID, s.ID, cmd), &res)
	if err != nil {
		return nil, err
	}
	return kipCommitResult{
		OID: res.OID, Ref: res.Ref, Path: res.Path, OpID: res.OpID, Author: res.Author,
		Replayed: res.Replayed, Folded: res.Folded, Note: res.Note,
	}, nil
}

type kipCommitResult struct {
	OID      string         `json:"oid"`
	Ref      string         `json:"ref"`
	Path     string         `json:"path"`
	OpID     string         `json:"op_id"`
	Author   string         `json:"author"`
	Replayed bool           `json:"replayed,omitempty"`
	Folded   *schema.Folded `json:"folded,omitempty"`
	Note     string         `json:"note,omitempty"`
}

type kipGetResult struct {
	Text         string     `json:"text"`
	Path         string     `json:"path"`
	Status       string     `json:"status"`
	Title        string     `json:"title"`
	ResolvedFrom []string   `json:"resolved_from,omitempty"`
	Vantages     *[]vantage `json:"vantages,omitempty"`
}

type vantage struct {
	Path       string `json:"path"`
	Ref        string `json:"ref"`
	Author     string `json:"author"`
	Vantage    string `json:"vantage"`
	CanonState string `json:"canon_state"`
	Title      string `json:"title"`
	Horizon    string `json:"horizon"`
}

// kipGet is T-kip_get-1…4.
func (a *App) kipGet(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	const op = "kip_get"
	refArg := args.String("ref")
	ref := a.resolveRef(refArg)
	p := names.Normalize(args.String("path"))
	if err := names.ValidatePath(p); err != nil {
		return nil, err
	}
	ans, err := a.readBlob(ctx, ref, p)
	if err != nil {
		return nil, err
	}
	if !ans.Found {
		// T-kip_get-2: tolerant miss, naming every holder; content never crosses refs.
		var h schema.HoldersAnswer
		if err := a.be.Query(ctx, bus.Capstore, schema.QHolders, schema.HoldersQuery{Path: p}, &h); err != nil {
			return nil, err
		}
		msg := "%s not found on %s"
		vals := []any{p, refArg}
		if !ans.RefFound {
			msg = "%s not found on %s (no such ref %s)"
			vals = append(vals, ref)
		}
		if len(h.Holders) > 0 {
			msg += "; held by: %s"
			vals = append(vals, strings.Join(h.Holders, ", "))
		}
		return nil, fault.E(op+".miss", fault.PathNotFound, msg, vals...)
	}
	res := kipGetResult{Path: p}
	commit := ans.Commit
	raw := ans.Data
	if args.String("resolve") != "exact" {
		visited := map[string]bool{p: true}
		for hops := 0; hops < 10; hops++ {
			env, _ := parseEntry(raw)
			succ := env.List("superseded_by")
			if env.Str("status") != "superseded" || len(succ) == 0 {
				break
			}
			next := names.Normalize(succ[0])
			if visited[next] || names.ValidatePath(next) != nil {
				break
			}
			var nx schema.BlobAnswer
			if err := a.be.Query(ctx, bus.Capstore, schema.QReadBlob, schema.BlobQuery{OID: commit, Path: next}, &nx); err != nil {
				return nil, err
			}
			if !nx.Found {
				break
			}
			res.ResolvedFrom = append(res.ResolvedFrom, res.Path)
			visited[next] = true
			res.Path, raw = next, nx.Data
		}
	}
	env, _ := parseEntry(raw)
	res.Text, res.Status, res.Title = text(raw), env.Str("status"), env.Str("title")
	if args.Bool("with_vantages") {
		vs, err := a.vantagesOn(ctx, res.Path) // S-51 with entry = the returned path
		if err != nil {
			return nil, err
		}
		res.Vantages = &vs
	}
	return res, nil
}

type listEntry struct {
	Path   string `json:"path"`
	Title  string `json:"title"`
	Status string `json:"status"`
	Type   string `json:"type"`
	Tick   string `json:"tick,omitempty"`
	Thread string `json:"thread,omitempty"`
}

// listEntries is T-list_entries-1/2.
func (a *App) listEntries(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	const op = "list_entries"
	refArg := args.String("ref")
	ref := a.resolveRef(refArg)
	filter, filterOK := treeFilter(args.String("path"))
	// The filter goes to both queries, so listing one domain reads that domain (issue 15), and
	// the two run at once: the tree walk in capstore beside the index's read.
	// Enrichment (S-53) is one index query for the ref; a path the index does not know gets
	// empty fields, never a guess (T-list_entries-2), and so does every path while the index
	// cannot answer (it is a cache; git is truth). A filter that leaves the tree asks nothing.
	var env map[string]listEntry
	enriched := make(chan struct{})
	if filterOK {
		go func() {
			defer close(enriched)
			if err := a.be.Query(ctx, bus.Index, schema.QIndexEnvelopesFor, schema.RefQuery{Ref: ref, Under: filter}, &env); err != nil {
				a.log.Warn("listing without enrichment", "ref", ref, "err", err)
			}
		}()
	} else {
		close(enriched)
	}
	var ans schema.ListPathsAnswer
	err := a.be.Query(ctx, bus.Capstore, schema.QListPaths, schema.RefQuery{Ref: ref, Under: filter}, &ans)
	<-enriched
	if err != nil {
		return nil, err
	}
	if !ans.RefFound {
		return nil, fault.E(op, fault.PathNotFound, "ref %s (%s) not found", refArg, ref)
	}
	if !filterOK {
		return nil, fault.E(op+".filter", fault.PathNotFound, "path %q leaves the tree of %s", args.String("path"), refArg)
	}
	out := []listEntry{}
	for _, p := range ans.Paths {
		if filter != "" && p != filter && !strings.HasPrefix(p, filter+"/") {
			continue
		}
		e := env[p]
		e.Path = p
		out = append(out, e)
	}
	return listEntriesResult{Entries: out}, nil
}

// listEntriesResult is list_entries' answer (T-list_entries).
type listEntriesResult struct {
	Entries []listEntry `json:"entries"`
}

// treeFilter normalizes a list_entries filter as git normalizes a path inside the tree.
func treeFilter(f string) (string, bool) {
	if f == "" {
		return "", true
	}
	if strings.HasPrefix(f, "/") {
		return "", false
	}
	depth := 0
	var parts []string
	for _, seg := range strings.Split(f, "/") {
		switch seg {
		case "", ".":
			continue
		case "..":
			if depth == 0 {
				return "", false
			}
			depth--
			parts = parts[:len(parts)-1]
			continue
		}
		parts = append(parts, seg)
		depth++
	}
	return path.Join(parts...), true
}

// kipHistory is T-kip_history-1…3.
func (a *App) kipHistory(ctx context.Context, args toolspec.Args, _ Session) (any, error) {
	const op = "kip_history"
	ref := a.resolveRef(args.String("ref"))
	p := names.Normalize(args.String("path"))
	if err := names.ValidatePath(p); err != nil {
		return nil, err
	}
	var ans schema.HistoryAnswer
	if err := a.be.Query(ctx, bus.Capstore, schema.QHistory, schema.HistoryQuery{Ref: ref, Path: p}, &ans); err != nil {
		return nil, err
	}
	if !ans.RefFound {
		return nil, fault.E(op, fault.RefNotFound, "%s: no such ref", ref)
	}
	return kipHistoryResult{History: ans.History}, nil
}

// kipHistoryResult is kip_history's answer (T-kip_history).
type kipHistoryResult struct {
	History []schema.HistoryItem `json:"history"`
}

func parseEntry(b []byte) (*entry.Envelope, string) { return entry.Parse(text(b)) }
