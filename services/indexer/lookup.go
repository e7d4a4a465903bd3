package indexer

import (
	"context"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/pytext"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// Lookups is what the scry lookups and guards ask of the index: selections through its indexes
// (by type, path, thread, author, recipient, link and body), never every row, so a request
// costs the size of its answer, not of the map. Each lookup below equals its pure function in
// scry.go (the oracle) evaluated over every row; lookup_test.go holds them to it on both
// backends.
type Lookups interface {
	Select(ctx context.Context, f rows.Filter) ([]rows.Row, error)
	ThreadGroups(ctx context.Context) ([]rows.ThreadGroup, error)
	RowsBySeq(ctx context.Context, seqs []int64) (map[int64]rows.Row, error)
	// InboxCounts is, per author, the number of msg rows with seat among their recipients,
	// only those at paths unless paths is empty.
	InboxCounts(ctx context.Context, seat string, paths []string) (map[string]int, error)
}

// LookupInbox is Inbox for each seat (S-40/S-41) over the seat's messages only.
func LookupInbox(ctx context.Context, st Lookups, seats []string) (schema.InboxAnswer, error) {
	out := schema.InboxAnswer{Inboxes: map[string][]schema.InboxMessage{}}
	for _, seat := range seats {
		rs, err := st.Select(ctx, rows.Filter{Type: "msg", Recipient: seat, Light: true})
		if err != nil {
			return schema.InboxAnswer{}, err
		}
		out.Inboxes[seat] = Inbox(rs, seat)
	}
	return out, nil
}

// LookupFlags is Frontier (S-43) for seat with read the paths it has read receipts for, at a
// cost independent of the inbox's size (issue 15): the inbox is counted by sender in the store,
// and only the superseding messages, the rows at the paths they supersede, and the dead and read
// paths' counts are read. The superseded paths are found as Inbox finds them (S-41): old is
// dead when a message of the inbox supersedes it and the newest inbox row at old has the same
// author.
func LookupFlags(ctx context.Context, st Lookups, seat string, read []string) (schema.Flags, error) {
	sup, err := st.Select(ctx, rows.Filter{Type: "msg", Recipient: seat, Superseding: true, Light: true})
	if err != nil {
		return schema.Flags{}, err
	}
	// The author of the newest inbox row at each superseded path, in one lookup of them all.
	var olds []string
	for _, m := range sup {
		olds = append(olds, m.Supersedes...)
	}
	authorOf := map[string]string{} // absent: no inbox row at the path
	if len(olds) > 0 {
		slices.Sort(olds)
		rs, err := st.Select(ctx, rows.Filter{Type: "msg", Recipient: seat, Paths: slices.Compact(olds), Light: true})
		if err != nil {
			return schema.Flags{}, err
		}
		for _, r := range rs { // oldest first: the newest row at a path is the last written
			authorOf[r.Path] = r.AuthoringInstance
		}
	}
	gone := map[string]bool{}
	for _, p := range read {
		gone[p] = true
	}
	for _, m := range sup {
		for _, old := range m.Supersedes {
			if a, ok := authorOf[old]; ok && a == m.AuthoringInstance {
				gone[old] = true
			}
		}
	}
	counts, err := unreadBySender(ctx, st, seat, slices.Sorted(maps.Keys(gone)))
	if err != nil {
		return schema.Flags{}, err
	}
	out := schema.Flags{From: []string{}}
	for a, n := range counts {
		out.Unread += n
		out.From = append(out.From, a)
	}
	slices.Sort(out.From)
	return out, nil
}

// LookupAttention is Attention (T-common-20) for seat with read the paths it has read receipts
// for, counted in the store without reading the messages (issue 15): the inbox's rows minus those
// at the read paths. Supersession does not enter: attention counts the flat inbox.
func LookupAttention(ctx context.Context, st Lookups, seat string, read []string) (int, error) {
	counts, err := unreadBySender(ctx, st, seat, read)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n, nil
}

// unreadBySender is, per sender with any, how many of seat's inbox messages are not at the paths
// gone: the inbox counted in the store, less its rows at gone.
func unreadBySender(ctx context.Context, st Lookups, seat string, gone []string) (map[string]int, error) {
	counts, err := st.InboxCounts(ctx, seat, nil)
	if err != nil {
		return nil, err
	}
	if len(gone) > 0 && len(counts) > 0 {
		less, err := st.InboxCounts(ctx, seat, gone)
		if err != nil {
			return nil, err
		}
		for a, n := range less {
			counts[a] -= n
		}
	}
	for a, n := range counts {
		if n <= 0 { // none left, or below zero when a write fell between the two counts
			delete(counts, a)
		}
	}
	return counts, nil
}

// LookupStatusOf is StatusOf (S-54) over the rows at path.
func LookupStatusOf(ctx context.Context, st Lookups, path string) (string, error) {
	rs, err := atPath(ctx, st, path)
	if err != nil {
		return "", err
	}
	return StatusOf(rs, path), nil
}

// atPath selects the rows at path (none for "": every row has a path).
func atPath(ctx context.Context, st Lookups, path string) ([]rows.Row, error) {
	if path == "" {
		return nil, nil
	}
	return st.Select(ctx, rows.Filter{Path: path, Light: true})
}

// LookupVantagesFor is VantagesFor (S-51, T-vap_for-1…4): the matching vantages' keys are
// selected and ordered, and only the page's rows are read in full.
func LookupVantagesFor(ctx context.Context, st Lookups, q schema.VantagesQuery, canonRef string) (schema.VantagesAnswer, error) {
	keys, err := st.Select(ctx, rows.Filter{Type: "vap", Author: q.Author, CanonState: q.CanonState, Link: q.Entry, Light: true})
	if err != nil {
		return schema.VantagesAnswer{}, err
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if q.Author != "" && keys[i].InstanceDepth != keys[j].InstanceDepth {
			return keys[i].InstanceDepth > keys[j].InstanceDepth
		}
		return keys[i].InsSeq > keys[j].InsSeq
	})
	out := schema.VantagesAnswer{Vantages: []schema.Vantage{}, Total: len(keys)}
	page := keys
	if !q.All {
		start := max(0, q.Offset)
		out.Offset = start
		page = nil
		if start < len(keys) {
			page = keys[start : start+min(max(1, q.Limit), len(keys)-start)]
		}
	}
	seqs := make([]int64, len(page))
	for i, k := range page {
		seqs[i] = k.InsSeq
	}
	full, err := st.RowsBySeq(ctx, seqs)
	if err != nil {
		return schema.VantagesAnswer{}, err
	}
	bound := map[string][]rows.Row{}
	for _, k := range page {
		r, ok := full[k.InsSeq]
		if !ok { // replaced between the two reads
			continue
		}
		v := schema.Vantage{Path: r.Path, Ref: r.Ref, Author: r.AuthoringInstance, Binds: nonNilList(r.Links), Vantage: r.Vantage,
			CanonState: r.CanonState, Title: r.Title, Preview: prefix(r.BodyText, previewLen)}
		if len(r.Links) > 0 {
			b := r.Links[0]
			if _, ok := bound[b]; !ok {
				if bound[b], err = atPath(ctx, st, b); err != nil {
					return schema.VantagesAnswer{}, err
				}
			}
			v.BindsStatus = bindsStatus(bound[b], b, r.Ref, canonRef)
		}
		if q.Full || q.All {
			h := r.BodyText
			v.Horizon = &h
		}
		out.Vantages = append(out.Vantages, v)
	}
	out.Count = len(out.Vantages)
	out.Truncated = out.Offset+out.Count < out.Total
	return out, nil
}

// LookupThreads is Threads (S-61) from the thread index's (thread, author) groups.
func LookupThreads(ctx context.Context, st Lookups) (schema.ThreadsAnswer, error) {
	gs, err := st.ThreadGroups(ctx)
	if err != nil {
		return schema.ThreadsAnswer{}, err
	}
	out := schema.ThreadsAnswer{Threads: map[string]schema.ThreadSummary{}}
	latest := map[string]int64{}
	for _, g := range gs {
		t := out.Threads[g.Thread]
		t.Count += g.Count
		if t.Authors == nil {
			t.Authors = []string{}
		}
		if g.Author != "" && !slices.Contains(t.Authors, g.Author) {
			t.Authors = append(t.Authors, g.Author)
			slices.Sort(t.Authors)
		}
		if g.Latest > latest[g.Thread] {
			latest[g.Thread] = g.Latest
			t.Latest = schema.ThreadLatest{Path: g.Path, Ref: g.Ref}
		}
		out.Threads[g.Thread] = t
	}
	return out, nil
}

// LookupThreadEntries is ThreadEntries (S-62) over the tag's rows.
func LookupThreadEntries(ctx context.Context, st Lookups, q schema.ThreadQuery) (schema.ThreadAnswer, error) {
	if q.Thread == "" {
		return schema.ThreadAnswer{}, fault.E("index.thread_entries", fault.ArgumentError,
			"thread is empty: threads lists the tags, thread_entries reads one")
	}
	rs, err := st.Select(ctx, rows.Filter{Thread: q.Thread, Light: true})
	if err != nil {
		return schema.ThreadAnswer{}, err
	}
	return ThreadEntries(rs, q), nil
}

// LookupArgTerms is ArgTerms (S-70) over the arg rows.
func LookupArgTerms(ctx context.Context, st Lookups) (schema.ArgTermsAnswer, error) {
	rs, err := st.Select(ctx, rows.Filter{Type: "arg"})
	if err != nil {
		return schema.ArgTermsAnswer{}, err
	}
	return ArgTerms(rs), nil
}

// LookupArgDefinitions is ArgDefinitions (S-71) over the term's arg rows: the arg rows' keys
// are selected without their bodies, and only the term's rows are read in full.
func LookupArgDefinitions(ctx context.Context, st Lookups, term string) (schema.ArgDefinitionsAnswer, error) {
	keys, err := st.Select(ctx, rows.Filter{Type: "arg", Light: true})
	if err != nil {
		return schema.ArgDefinitionsAnswer{}, err
	}
	suffix := asciiLower("/" + term + ".md")
	var seqs []int64
	for _, k := range keys {
		if k.Path == term+".md" || strings.HasSuffix(asciiLower(k.Path), suffix) {
			seqs = append(seqs, k.InsSeq)
		}
	}
	full, err := st.RowsBySeq(ctx, seqs)
	if err != nil {
		return schema.ArgDefinitionsAnswer{}, err
	}
	rs := make([]rows.Row, 0, len(seqs))
	for _, seq := range seqs { // ins_seq order, as ArgDefinitions reads them
		if r, ok := full[seq]; ok {
			rs = append(rs, r)
		}
	}
	return ArgDefinitions(rs, term), nil
}

// LookupAuthorsOf is S-50: the sorted distinct non-empty authors of rows at exactly path, any
// ref, over the rows at path.
func LookupAuthorsOf(ctx context.Context, st Lookups, path string) (schema.AuthorsAnswer, error) {
	out := schema.AuthorsAnswer{Authors: []string{}}
	rs, err := atPath(ctx, st, path)
	if err != nil {
		return schema.AuthorsAnswer{}, err
	}
	for _, r := range rs {
		if r.AuthoringInstance != "" && !slices.Contains(out.Authors, r.AuthoringInstance) {
			out.Authors = append(out.Authors, r.AuthoringInstance)
		}
	}
	slices.Sort(out.Authors)
	return out, nil
}

// LookupAuthorsOfBody is S-52: for each non-empty author, the first row (ins_seq ascending)
// whose body_text stripped of " \n\r\t" equals body stripped of Python whitespace, over the
// rows with that body (the body index).
func LookupAuthorsOfBody(ctx context.Context, st Lookups, body string) (schema.BodyAuthorsAnswer, error) {
	want := pytext.Strip(body)
	rs, err := st.Select(ctx, rows.Filter{Body: &want})
	if err != nil {
		return schema.BodyAuthorsAnswer{}, err
	}
	out := schema.BodyAuthorsAnswer{Authors: []schema.AuthorPath{}}
	seen := map[string]bool{}
	for _, r := range rs {
		if r.AuthoringInstance == "" || seen[r.AuthoringInstance] {
			continue
		}
		seen[r.AuthoringInstance] = true
		out.Authors = append(out.Authors, schema.AuthorPath{Author: r.AuthoringInstance, Path: r.Path})
	}
	return out, nil
}
