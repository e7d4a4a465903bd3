package indexer

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/stasima/stasima/pkg/pytext"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// previewLen is the preview length of vantages and argot definitions, in characters.
const previewLen = 240

// The lookups below are pure functions over rows of the index in ins_seq ascending order. The
// query endpoints run them (lookup.go) over the rows the store selects through its indexes, and
// the tests over every row as the oracle; they are computed in Go rather than in SQL so that
// every storage backend answers them identically (S-80) and exact membership holds for every
// name (D-30).

// Inbox is S-40/S-41 for one seat: rows with type msg whose recipients contain seat exactly,
// any ref, ins_seq ascending; superseded_by[old] = m.path when m's author wrote old (later
// edges win; another author's edge is ignored).
func Inbox(all []rows.Row, seat string) []schema.InboxMessage {
	out := []schema.InboxMessage{}
	authorOf := map[string]string{}
	for _, r := range all {
		if r.Type != "msg" || !slices.Contains(r.Recipients, seat) {
			continue
		}
		authorOf[r.Path] = r.AuthoringInstance
		out = append(out, schema.InboxMessage{Path: r.Path, From: r.AuthoringInstance, Subject: r.Subject,
			Coordinates: nonNilList(r.Links), Ref: r.Ref, Supersedes: nonNilList(r.Supersedes)})
	}
	by := map[string]string{}
	for _, m := range out {
		for _, old := range m.Supersedes {
			if a, ok := authorOf[old]; ok && a == m.From {
				by[old] = m.Path
			}
		}
	}
	for i := range out {
		out[i].SupersededBy = by[out[i].Path]
	}
	return out
}

// Frontier is S-43 for one seat: the messages of Inbox(all, seat) whose path is neither
// superseded (S-41) nor in read, counted, with their senders sorted and distinct.
func Frontier(all []rows.Row, seat string, read map[string]bool) schema.Flags {
	msgs := Inbox(all, seat)
	dead := map[string]bool{}
	for _, m := range msgs {
		if m.SupersededBy != "" {
			dead[m.Path] = true
		}
	}
	out := schema.Flags{From: []string{}}
	for _, m := range msgs {
		if dead[m.Path] || read[m.Path] {
			continue
		}
		out.Unread++
		if !slices.Contains(out.From, m.From) {
			out.From = append(out.From, m.From)
		}
	}
	slices.Sort(out.From)
	return out
}

// Attention is T-common-20/S-45 for one seat: how many messages of Inbox(all, seat) — the flat
// inbox, superseded messages included (not the frontier) — have a path not in read.
func Attention(all []rows.Row, seat string, read map[string]bool) int {
	n := 0
	for _, m := range Inbox(all, seat) {
		if !read[m.Path] {
			n++
		}
	}
	return n
}

// VantagesFor is S-51 and T-vap_for-1…4: vap rows filtered by author and canon_state when given,
// ordered by instance_depth then ins_seq descending when author is given (else ins_seq
// descending), then kept when links contain entry exactly; paged unless All.
func VantagesFor(all []rows.Row, q schema.VantagesQuery, canonRef string) schema.VantagesAnswer {
	var vs []rows.Row
	for _, r := range all {
		if r.Type != "vap" || q.Author != "" && r.AuthoringInstance != q.Author || q.CanonState != "" && r.CanonState != q.CanonState {
			continue
		}
		vs = append(vs, r)
	}
	sort.SliceStable(vs, func(i, j int) bool {
		if q.Author != "" && vs[i].InstanceDepth != vs[j].InstanceDepth {
			return vs[i].InstanceDepth > vs[j].InstanceDepth
		}
		return vs[i].InsSeq > vs[j].InsSeq
	})
	if q.Entry != "" {
		vs = slices.DeleteFunc(vs, func(r rows.Row) bool { return !slices.Contains(r.Links, q.Entry) })
	}
	out := schema.VantagesAnswer{Vantages: []schema.Vantage{}, Total: len(vs)}
	page := vs
	if !q.All {
		// The page end saturates: start + limit overflows int for a limit near 2^63, which
		// 0.1.5 accepted to mean "every row" (T-vap_for-2).
		start := max(0, q.Offset)
		page = nil
		if start < len(vs) {
			page = vs[start : start+min(len(vs)-start, max(1, q.Limit))]
		}
		out.Offset = start
	}
	for _, r := range page {
		v := schema.Vantage{Path: r.Path, Ref: r.Ref, Author: r.AuthoringInstance, Binds: nonNilList(r.Links), Vantage: r.Vantage,
			CanonState: r.CanonState, Title: r.Title, Preview: prefix(r.BodyText, previewLen)}
		if len(r.Links) > 0 {
			v.BindsStatus = bindsStatus(all, r.Links[0], r.Ref, canonRef)
		}
		if q.Full || q.All {
			h := r.BodyText
			v.Horizon = &h
		}
		out.Vantages = append(out.Vantages, v)
	}
	out.Count = len(out.Vantages)
	out.Truncated = out.Offset+out.Count < out.Total
	return out
}

// bindsStatus is T-vap_for-4: the status of b on the vantage's own ref, else on canon, else
// status_of(b).
func bindsStatus(all []rows.Row, b, ref, canonRef string) string {
	for _, want := range []string{ref, canonRef} {
		for _, r := range all {
			if r.Ref == want && r.Path == b && r.Status != "" {
				return r.Status
			}
		}
	}
	return StatusOf(all, b)
}

// StatusOf is S-54: the status of a row at path, preferring canon rows; "" if none.
func StatusOf(all []rows.Row, path string) string {
	status := ""
	for _, r := range all {
		if r.Path != path {
			continue
		}
		if r.IsCanon {
			return r.Status
		}
		if status == "" {
			status = r.Status
		}
	}
	return status
}

// Threads is S-61 over rows of every type with a non-empty thread.
func Threads(all []rows.Row) schema.ThreadsAnswer {
	out := schema.ThreadsAnswer{Threads: map[string]schema.ThreadSummary{}}
	for _, r := range all { // ins_seq ascending: the last row seen is the newest
		if r.Thread == "" {
			continue
		}
		t := out.Threads[r.Thread]
		t.Count++
		if t.Authors == nil {
			t.Authors = []string{}
		}
		if r.AuthoringInstance != "" && !slices.Contains(t.Authors, r.AuthoringInstance) {
			t.Authors = append(t.Authors, r.AuthoringInstance)
			slices.Sort(t.Authors)
		}
		t.Latest = schema.ThreadLatest{Path: r.Path, Ref: r.Ref}
		out.Threads[r.Thread] = t
	}
	return out
}

// ThreadEntries is S-62 and T-thread_scry-2: the tag's rows newest first, offset skipped
// (negative → 0), limit taken (negative → all).
func ThreadEntries(all []rows.Row, q schema.ThreadQuery) schema.ThreadAnswer {
	out := schema.ThreadAnswer{Thread: q.Thread, Entries: []schema.ThreadEntry{}, Offset: q.Offset}
	var rs []rows.Row
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Thread == q.Thread {
			rs = append(rs, all[i])
		}
	}
	out.Total = len(rs)
	start := max(0, q.Offset)
	for i := start; i < len(rs) && (q.Limit < 0 || i-start < q.Limit); i++ {
		r := rs[i]
		title := r.Title
		if title == "" {
			title = r.Subject
		}
		out.Entries = append(out.Entries, schema.ThreadEntry{Path: r.Path, Ref: r.Ref, Author: r.AuthoringInstance,
			Type: r.Type, Title: title, Status: r.Status})
	}
	out.Count = len(out.Entries)
	out.Truncated = start+out.Count < out.Total
	return out
}

// ArgTerms is S-70: per term (last path segment without ".md") of the arg rows, the number of
// distinct stripped bodies, the sorted distinct refs, and whether any row is canon.
func ArgTerms(all []rows.Row) schema.ArgTermsAnswer {
	out := schema.ArgTermsAnswer{Terms: map[string]schema.ArgTerm{}}
	bodies := map[string]map[string]bool{}
	for _, r := range all {
		if r.Type != "arg" {
			continue
		}
		term := strings.TrimSuffix(r.Path[strings.LastIndexByte(r.Path, '/')+1:], ".md")
		t := out.Terms[term]
		if bodies[term] == nil {
			bodies[term] = map[string]bool{}
			t.Trees = []string{}
		}
		bodies[term][pytext.Strip(r.BodyText)] = true
		t.Definitions = len(bodies[term])
		if !slices.Contains(t.Trees, r.Ref) {
			t.Trees = append(t.Trees, r.Ref)
			slices.Sort(t.Trees)
		}
		t.Canon = t.Canon || r.IsCanon
		out.Terms[term] = t
	}
	return out
}

// ArgDefinitions is S-71: arg rows at exactly "<term>.md" or ending "/<term>.md" compared
// ASCII-case-insensitively with "%" and "_" literal (D-27), grouped by stripped body; groups
// canon-first, then by holder count descending, then by preview ascending; holders by ref.
func ArgDefinitions(all []rows.Row, term string) schema.ArgDefinitionsAnswer {
	out := schema.ArgDefinitionsAnswer{Term: term, Definitions: []schema.ArgDefinition{}}
	suffix := asciiLower("/" + term + ".md")
	groups := map[string]*schema.ArgDefinition{}
	var order []string
	for _, r := range all {
		if r.Type != "arg" || r.Path != term+".md" && !strings.HasSuffix(asciiLower(r.Path), suffix) {
			continue
		}
		body := pytext.Strip(r.BodyText)
		g := groups[body]
		if g == nil {
			g = &schema.ArgDefinition{Preview: prefix(body, previewLen), Holders: []schema.ArgHolder{}}
			groups[body] = g
			order = append(order, body)
		}
		g.Canon = g.Canon || r.IsCanon
		g.Holders = append(g.Holders, schema.ArgHolder{Ref: r.Ref, Author: r.AuthoringInstance, Path: r.Path, Status: r.Status})
	}
	for _, b := range order {
		g := groups[b]
		sort.SliceStable(g.Holders, func(i, j int) bool { return g.Holders[i].Ref < g.Holders[j].Ref })
		out.Definitions = append(out.Definitions, *g)
	}
	sort.SliceStable(out.Definitions, func(i, j int) bool {
		a, b := out.Definitions[i], out.Definitions[j]
		if a.Canon != b.Canon {
			return a.Canon
		}
		if len(a.Holders) != len(b.Holders) {
			return len(a.Holders) > len(b.Holders)
		}
		return a.Preview < b.Preview
	})
	out.Count = len(out.Definitions)
	return out
}

// asciiLower folds A-Z only (0.1.5's SQL LIKE case-insensitivity is ASCII-only).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// prefix is the first n characters (runes) of s.
func prefix(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

func nonNilList(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// scryEndpoints are the stasima.index.q.* endpoints of this file.
func (s *Service) scryEndpoints() map[string]func(context.Context, []byte) (any, error) {
	return map[string]func(context.Context, []byte) (any, error){
		schema.QIndexInbox: func(ctx context.Context, b []byte) (any, error) {
			var q schema.InboxQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			return LookupInbox(ctx, s.store, q.Seats)
		},
		schema.QIndexFlags: func(ctx context.Context, b []byte) (any, error) {
			var q schema.FlagsQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			out := schema.FlagsAnswer{Flags: make(map[string]schema.Flags, len(q.Seats))}
			for _, seat := range q.Seats {
				f, err := LookupFlags(ctx, s.store, seat, q.Read[seat])
				if err != nil {
					return nil, err
				}
				out.Flags[seat] = f
			}
			return out, nil
		},
		schema.QIndexAttention: func(ctx context.Context, b []byte) (any, error) {
			var q schema.AttentionQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			n, err := LookupAttention(ctx, s.store, q.Seat, q.Read)
			if err != nil {
				return nil, err
			}
			return schema.AttentionAnswer{Unread: n}, nil
		},
		schema.QIndexVantagesFor: func(ctx context.Context, b []byte) (any, error) {
			var q schema.VantagesQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			return LookupVantagesFor(ctx, s.store, q, s.cfg.CanonRef)
		},
		schema.QIndexThreads: func(ctx context.Context, _ []byte) (any, error) {
			return LookupThreads(ctx, s.store)
		},
		schema.QIndexThreadEntries: func(ctx context.Context, b []byte) (any, error) {
			var q schema.ThreadQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			return LookupThreadEntries(ctx, s.store, q)
		},
		schema.QIndexArgTerms: func(ctx context.Context, _ []byte) (any, error) {
			return LookupArgTerms(ctx, s.store)
		},
		schema.QIndexArgDefinitions: func(ctx context.Context, b []byte) (any, error) {
			var q schema.TermQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			return LookupArgDefinitions(ctx, s.store, q.Term)
		},
		schema.QIndexStatusOf: func(ctx context.Context, b []byte) (any, error) {
			var q schema.PathQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			st, err := LookupStatusOf(ctx, s.store, q.Path)
			if err != nil {
				return nil, err
			}
			return schema.StatusOfAnswer{Status: st}, nil
		},
	}
}
