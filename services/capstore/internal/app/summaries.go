package app

import (
	"slices"
	"sync"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/entry"
	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// maxSummaryThreadReads bounds the entries one proposal's summary reads for their threads; a
// larger proposal lists the threads of its first paths only.
const maxSummaryThreadReads = 64

// ProposalSummaries answers the cockpit's proposals page in one pass: canon's history is walked
// once, then each proposal's own commits (C-prop-4's creator and age), its changed paths since
// the merge base, and the threads of those entries.
func (a *App) ProposalSummaries(q schema.ProposalSummariesQuery) (schema.ProposalSummaries, error) {
	const op = "proposal_summaries"
	out := schema.ProposalSummaries{Summaries: map[string]schema.ProposalSummary{}}
	rs, err := a.git.ListRefs(refs.ProposalPrefix)
	if err != nil {
		return out, unavailable(op, err)
	}
	canon, hasCanon, err := a.git.Resolve(a.cfg.CanonRef)
	if err != nil {
		return out, unavailable(op, err)
	}
	onCanon := map[string]bool{}
	if hasCanon {
		if onCanon, err = a.canonCommits(canon); err != nil {
			return out, unavailable(op, err)
		}
	}
	want := make(map[string]bool, len(q.IDs)) // a set: the ids asked may be many, as the proposals
	for _, id := range q.IDs {
		want[id] = true
	}
	for _, r := range rs {
		id, _ := refs.ProposalOf(r.Name)
		if len(q.IDs) > 0 && !want[id] {
			continue
		}
		s, err := a.summarise(r.OID, canon, hasCanon, onCanon)
		if err != nil {
			return out, unavailable(op, err)
		}
		out.Summaries[id] = s
	}
	return out, nil
}

func (a *App) summarise(tip, canon string, hasCanon bool, onCanon map[string]bool) (schema.ProposalSummary, error) {
	s := schema.ProposalSummary{Threads: []string{}}
	tipInfo, err := a.git.CommitInfo(tip)
	if err != nil {
		return s, err
	}
	s.UpdatedAt, s.CreatedAt = tipInfo.Time.Unix(), tipInfo.Time.Unix()
	var oldest *gitstore.CommitInfo
	err = a.walk(tip, func(c gitstore.CommitInfo) bool {
		if onCanon[c.OID] {
			return false
		}
		if oldest == nil || !c.Time.After(oldest.Time) {
			cc := c
			oldest = &cc
		}
		return true
	})
	if err != nil || oldest == nil {
		return s, err
	}
	s.Creator, s.CreatedAt = commitmsg.Author(oldest.Message, oldest.AuthorName), oldest.Time.Unix()
	base := ""
	if hasCanon {
		b, ok, err := a.merger().MergeBase(canon, tip)
		if err != nil {
			return s, err
		}
		if ok {
			base = b
		}
	}
	paths, err := a.merger().ChangedPaths(base, tip)
	if err != nil {
		return s, err
	}
	n := len(paths)
	s.Entries = &n
	for i, p := range paths {
		if i == maxSummaryThreadReads {
			break
		}
		data, ok, err := a.git.ReadBlob(tip, p)
		if err != nil {
			return s, err
		}
		if !ok {
			continue
		}
		env, _ := entry.Parse(string(data))
		if t := env.Str("thread"); t != "" && !slices.Contains(s.Threads, t) {
			s.Threads = append(s.Threads, t)
		}
	}
	slices.Sort(s.Threads)
	return s, nil
}

// RefTips answers the tip commit of every ref under q.Prefix (the seats page's last writes).
func (a *App) RefTips(q schema.ListRefsQuery) (schema.RefTips, error) {
	const op = "ref_tips"
	rs, err := a.git.ListRefs(q.Prefix)
	if err != nil {
		return schema.RefTips{}, unavailable(op, err)
	}
	out := schema.RefTips{Tips: make([]schema.RefTip, 0, len(rs))}
	for _, r := range rs {
		c, err := a.git.CommitInfo(r.OID)
		if err != nil {
			return out, unavailable(op, err)
		}
		out.Tips = append(out.Tips, schema.RefTip{Name: r.Name, OID: r.OID, Author: commitmsg.Author(c.Message, c.AuthorName),
			Subject: commitmsg.Subject(c.Message), Time: c.Time.Unix()})
	}
	return out, nil
}

// canonHistory is the set of commits on canon's history at tip. The set is shared with the
// requests that read it and never written after it is kept: a new tip gets a new set.
type canonHistory struct {
	mu  sync.Mutex
	tip string
	set map[string]bool
}

// canonCommits returns the commits of canon's history at tip, kept per canon tip so the
// cockpit's proposals page does not walk all of canon's history per request (issue 15). When
// the kept tip is an ancestor of tip (canon moved by lands) only the commits since are walked:
// the walk stops at kept commits, and it reaches the kept tip exactly when the kept tip is an
// ancestor, because every kept commit is an ancestor of it. Otherwise (canon moved elsewhere: a
// restore, a fetch) the set is rebuilt.
func (a *App) canonCommits(tip string) (map[string]bool, error) {
	h := &a.onCanon
	h.mu.Lock()
	keptTip, kept := h.tip, h.set
	h.mu.Unlock()
	if keptTip == tip && kept != nil {
		return kept, nil
	}
	set, reached := map[string]bool{}, false
	err := a.walk(tip, func(c gitstore.CommitInfo) bool {
		if kept[c.OID] {
			reached = reached || c.OID == keptTip
			return false
		}
		set[c.OID] = true
		return true
	})
	if err == nil && kept != nil && !reached {
		set = map[string]bool{}
		err = a.walk(tip, func(c gitstore.CommitInfo) bool { set[c.OID] = true; return true })
	} else if err == nil {
		for oid := range kept {
			set[oid] = true
		}
	}
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.tip, h.set = tip, set
	h.mu.Unlock()
	return set, nil
}
