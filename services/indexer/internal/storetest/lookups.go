package storetest

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/fixture"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// LookupCorpus fills st with the fixture's rows (version 1) and then the generated corpus (its
// events at versions 2…), the second half in one batch, and returns every row (All).
func LookupCorpus(t testing.TB, st Store, n int) []rows.Row {
	t.Helper()
	ctx := context.Background()
	if _, err := st.Upsert(ctx, 1, Derived(t, fixture.Unpack(t))...); err != nil {
		t.Fatal(err)
	}
	ws := Generated(1, n)
	for i := range ws {
		ws[i].Version++
	}
	for _, w := range ws[:n/2] {
		if _, err := st.UpsertBatch(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.UpsertBatch(ctx, ws[n/2:]...); err != nil {
		t.Fatal(err)
	}
	all, err := st.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// Selected is what Select must answer for f: the rows of all that f matches, ins_seq
// ascending, without embeddings, and without bodies when f.Light.
func Selected(all []rows.Row, f rows.Filter) []rows.Row {
	var out []rows.Row
	for _, r := range all {
		if f.Match(r) {
			r.Embedding = nil
			if f.Light {
				r.BodyText = ""
			}
			out = append(out, r)
		}
	}
	return out
}

// Filters returns filters over every key of rows.Filter, built from the values in all (and a
// few absent ones), alone and combined.
func Filters(all []rows.Row) []rows.Filter {
	set := map[string]bool{}
	var fs []rows.Filter
	add := func(f rows.Filter) {
		key := f.Type + "\x00" + f.Path + "\x00" + f.Thread + "\x00" + f.Author + "\x00" +
			f.CanonState + "\x00" + f.Recipient + "\x00" + f.Link + "\x00" + strings.Join(f.Paths, "\x01")
		if f.Body != nil {
			key += "\x00b" + *f.Body
		}
		if f.Light {
			key += "\x00l"
		}
		if f.Superseding {
			key += "\x00s"
		}
		if !set[key] {
			set[key] = true
			fs = append(fs, f)
		}
	}
	body := func(s string) *string { return &s }
	// Many paths at once (LookupFlags' superseded messages): every message path of the corpus,
	// with paths no row has, one of them not valid UTF-8 and one holding a NUL.
	var msgPaths []string
	seats := map[string]bool{"Nobody": true}
	for _, r := range all {
		if r.Type == "msg" {
			msgPaths = append(msgPaths, r.Path)
		}
		for _, s := range r.Recipients {
			seats[s] = true
		}
	}
	hostile := []string{"absent.md", "bad\xffutf8.md", "nul\x00.md"}
	for s := range seats {
		add(rows.Filter{Type: "msg", Recipient: s, Paths: append(slices.Clone(msgPaths), hostile...), Light: true})
	}
	add(rows.Filter{Paths: hostile})
	for _, r := range all {
		add(rows.Filter{Type: r.Type})
		add(rows.Filter{Path: r.Path, Light: true})
		add(rows.Filter{Author: r.AuthoringInstance, Type: "vap", CanonState: r.CanonState, Light: true})
		if r.Thread != "" {
			add(rows.Filter{Thread: r.Thread, Light: true})
		}
		for _, s := range r.Recipients {
			add(rows.Filter{Type: "msg", Recipient: s, Light: true})
			add(rows.Filter{Type: "msg", Recipient: s, Superseding: true, Light: true})
			add(rows.Filter{Type: "msg", Recipient: s, Path: r.Path, Light: true})
			add(rows.Filter{Type: "msg", Recipient: s, Paths: []string{r.Path, "absent.md"}, Light: true})
		}
		for _, l := range r.Links {
			add(rows.Filter{Type: "vap", Link: l, Light: true})
			add(rows.Filter{Type: "vap", Link: l, Author: r.AuthoringInstance})
		}
		add(rows.Filter{Body: body(rows.StripBody(r.BodyText))})
	}
	for _, f := range []rows.Filter{{Path: "absent.md"}, {Type: "msg", Recipient: "Nobody"}, {Thread: "weaving "},
		{Body: body("absent body")}, {Body: body(" loom weft")}, {Type: "vap", Link: "absent.md"}} {
		add(f)
	}
	return fs
}

// InboxCountsOf is what InboxCounts(seat, paths) must answer, in the Go of S-40 over every
// row: per author, the msg rows whose recipients hold seat, only those at paths unless it is
// empty.
func InboxCountsOf(all []rows.Row, seat string, paths []string) map[string]int {
	out := map[string]int{}
	for _, r := range all {
		if r.Type == "msg" && slices.Contains(r.Recipients, seat) && (len(paths) == 0 || slices.Contains(paths, r.Path)) {
			out[r.AuthoringInstance]++
		}
	}
	return out
}

// CountPaths returns path sets to count an inbox at, from the message paths of all: none (the
// whole inbox), each alone, every other one, all of them twice over, and absent or odd ones.
func CountPaths(all []rows.Row) [][]string {
	var msgs []string
	for _, r := range all {
		if r.Type == "msg" {
			msgs = append(msgs, r.Path)
		}
	}
	out := [][]string{nil, {"absent.md"}, {"", "absent.md", "messages/\x00.md"}, append(slices.Clone(msgs), msgs...)}
	var every []string
	for i, p := range msgs {
		if i%2 == 0 {
			every = append(every, p)
		}
		if i < 40 {
			out = append(out, []string{p})
		}
	}
	// Over a thousand paths: more than one statement's worth of parameters.
	many := slices.Clone(every)
	for i := 0; i < 1200; i++ {
		many = append(many, fmt.Sprintf("messages/none-%d.md", i))
	}
	return append(out, every, many)
}

// ThreadGroupsOf is what ThreadGroups must answer, in the Go of S-61 over every row.
func ThreadGroupsOf(all []rows.Row) map[[2]string]rows.ThreadGroup {
	out := map[[2]string]rows.ThreadGroup{}
	for _, r := range all {
		if r.Thread == "" {
			continue
		}
		k := [2]string{r.Thread, r.AuthoringInstance}
		g := out[k]
		g.Thread, g.Author = k[0], k[1]
		g.Count++
		g.Latest, g.Path, g.Ref = r.InsSeq, r.Path, r.Ref
		out[k] = g
	}
	return out
}

// S-40…S-71: every selection equals the Go filter over every row, on the fixture and on a
// generated corpus; a selection naming no key is refused; after a rewrite, a delete and a reset
// the selections follow.
func testLookups(t *testing.T, b Backend) {
	st := open(t, b)
	ctx := context.Background()
	all := LookupCorpus(t, st, 400)
	check := func(all []rows.Row) {
		t.Helper()
		nonEmpty := 0
		for _, f := range Filters(all) {
			got, err := st.Select(ctx, f)
			if err != nil {
				t.Fatalf("Select(%+v): %v", f, err)
			}
			want := Selected(all, f)
			if len(got) > 0 {
				nonEmpty++
			}
			if len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) {
				t.Fatalf("Select(%+v):\n got %d %+v\nwant %d %+v", f, len(got), got, len(want), want)
			}
		}
		if nonEmpty < 20 && len(all) > 100 {
			t.Fatalf("only %d selections found rows: the corpus does not exercise the lookups", nonEmpty)
		}
		gs, err := st.ThreadGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[[2]string]rows.ThreadGroup{}
		for _, g := range gs {
			got[[2]string{g.Thread, g.Author}] = g
		}
		want := ThreadGroupsOf(all)
		// Path and ref are compared on each thread's newest group only: a store may leave
		// them empty on the others (rows.ThreadGroup).
		newest := map[string]int64{}
		for _, g := range want {
			newest[g.Thread] = max(newest[g.Thread], g.Latest)
		}
		for _, m := range []map[[2]string]rows.ThreadGroup{got, want} {
			for k, g := range m {
				if g.Latest != newest[g.Thread] {
					g.Path, g.Ref = "", ""
					m[k] = g
				}
			}
		}
		if !maps.Equal(got, want) {
			t.Fatalf("ThreadGroups:\n got %+v\nwant %+v", got, want)
		}
		seats := []string{"Nobody", ""}
		for _, r := range all {
			seats = append(seats, r.Recipients...)
		}
		slices.Sort(seats)
		counted := 0
		for _, seat := range slices.Compact(seats) {
			for _, ps := range CountPaths(all) {
				got, err := st.InboxCounts(ctx, seat, ps)
				if err != nil {
					t.Fatalf("InboxCounts(%q, %d paths): %v", seat, len(ps), err)
				}
				if want := InboxCountsOf(all, seat, ps); !maps.Equal(got, want) {
					t.Fatalf("InboxCounts(%q, %q):\n got %v\nwant %v", seat, ps, got, want)
				}
				counted += len(got)
			}
		}
		if counted == 0 && len(all) > 100 {
			t.Fatal("no inbox counted a message: the corpus does not exercise InboxCounts")
		}
	}
	check(all)
	if _, err := st.Select(ctx, rows.Filter{CanonState: "draft", Light: true}); err == nil {
		t.Error("Select with no key: want refused")
	}
	// A rewrite moves a row out of its thread, recipients, links and body; a delete and a reset
	// take rows away.
	moved := slices.IndexFunc(all, func(r rows.Row) bool { return r.Type == "msg" && r.Thread != "" })
	if moved < 0 {
		t.Fatal("corpus has no threaded message")
	}
	r := all[moved]
	r.Thread, r.Recipients, r.Links, r.BodyText = "", []string{"Other"}, []string{}, "moved"
	if _, err := st.Upsert(ctx, 1<<40, r); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteRef(ctx, RefOf("Gnomon")); err != nil {
		t.Fatal(err)
	}
	if all, err := st.All(ctx); err != nil {
		t.Fatal(err)
	} else {
		check(all)
	}
	if err := st.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	check(nil)
}

// S-53, T-list_entries-2: the envelopes under a path are exactly those of EnvelopesFor whose
// path is under or below it, whatever its bytes (LIKE and range metacharacters are literal).
func testEnvelopesUnder(t *testing.T, b Backend) {
	st := open(t, b)
	ctx := context.Background()
	recto := RefOf("Recto")
	var rs []rows.Row
	for _, p := range []string{"a.md", "practice.md", "practice/x.md", "practice/deep/y.md", "practice0/z.md",
		"practiced/w.md", "pr%ct_ce/v.md", "prXctXce/u.md", "pr\\ct/t.md", "practice/%/s.md"} {
		rs = append(rs, Row(recto, p, "kno", "active", p, "body", ""))
	}
	if _, err := st.Upsert(ctx, 1, append(rs, Row(CanonRef, "practice/x.md", "kno", "active", "canon", "body", ""))...); err != nil {
		t.Fatal(err)
	}
	all, err := st.EnvelopesFor(ctx, recto)
	if err != nil || len(all) != len(rs) {
		t.Fatalf("EnvelopesFor = %d rows, %v; want %d", len(all), err, len(rs))
	}
	for _, under := range []string{"", "practice", "practice/deep", "practice/x.md", "pr%ct_ce", "pr\\ct", "practice/%", "absent", "practic"} {
		got, err := st.EnvelopesUnder(ctx, recto, under)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]schema.EntryEnvelope{}
		for p, e := range all {
			if under == "" || p == under || strings.HasPrefix(p, under+"/") {
				want[p] = e
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("EnvelopesUnder(%q) = %v, want %v", under, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
	}
}
