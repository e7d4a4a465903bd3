package indexer

import (
	"fmt"
	"math"
	"testing"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

const testCanon = "refs/heads/main"

// seq numbers rows in slice order, as the store's All returns them (S-6).
func seq(rs ...rows.Row) []rows.Row {
	for i := range rs {
		rs[i].InsSeq = int64(i + 1)
		if rs[i].Status == "" {
			rs[i].Status = "active"
		}
		rs[i].IsCanon = rs[i].Ref == testCanon
	}
	return rs
}

func msg(author, path string, to []string, supersedes ...string) rows.Row {
	return rows.Row{Ref: "refs/cap/perspectives/" + author, Path: path, AuthoringInstance: author, Type: "msg",
		Subject: "re " + path, Recipients: to, Supersedes: supersedes, Links: []string{}}
}

// TestInbox is S-40/S-41/S-43 and D-30: exact membership for every name, tombstones only by the
// superseded message's own author, later edges win.
func TestInbox(t *testing.T) {
	odd := "Zoë \"q\" \\ \x01"
	all := seq(
		msg("Recto", "messages/a.md", []string{"Verso", odd}),
		msg("Recto", "messages/b.md", []string{"Verso"}, "messages/a.md"),
		msg("Tertia", "messages/c.md", []string{"Verso"}, "messages/b.md"), // foreign edge: ignored
		msg("Recto", "messages/d.md", []string{"Verso"}, "messages/a.md"),  // later edge wins
		rows.Row{Ref: testCanon, Path: "notes/n.md", Type: "kno", Recipients: []string{"Verso"}},
		msg("Recto", "messages/e.md", []string{"Versos"}),
	)
	got := Inbox(all, "Verso")
	want := "messages/a.md→messages/d.md messages/b.md→ messages/c.md→ messages/d.md→ "
	if s := summary(got); s != want {
		t.Fatalf("inbox(Verso) = %q, want %q", s, want)
	}
	if got := Inbox(all, odd); len(got) != 1 || got[0].Path != "messages/a.md" || got[0].From != "Recto" {
		t.Fatalf("inbox of a name JSON escapes (D-30): %+v", got)
	}
	if got := Inbox(all, "Nobody"); got == nil || len(got) != 0 {
		t.Fatalf("empty inbox is [] not null: %#v", got)
	}
}

func summary(ms []schema.InboxMessage) string {
	s := ""
	for _, m := range ms {
		s += m.Path + "→" + m.SupersededBy + " "
	}
	return s
}

func vap(ref, author, path string, depth int64, links ...string) rows.Row {
	return rows.Row{Ref: ref, Path: path, AuthoringInstance: author, Type: "vap", Vantage: "confirmed", Links: links,
		InstanceDepth: depth, BodyText: "horizon of " + path}
}

// TestVantagesFor is S-51 and T-vap_for-1…4.
func TestVantagesFor(t *testing.T) {
	rp, vp := "refs/cap/perspectives/Recto", "refs/cap/perspectives/Verso"
	all := seq(
		rows.Row{Ref: rp, Path: "e.md", AuthoringInstance: "Recto", Type: "kno", Status: "superseded"},
		rows.Row{Ref: testCanon, Path: "c.md", AuthoringInstance: "Recto", Type: "kno", Status: "landed-status"},
		vap(rp, "Recto", "vantages/1.md", 3, "e.md"),
		vap(vp, "Verso", "vantages/2.md", 9, "e.md"),
		vap(rp, "Recto", "vantages/3.md", 2, "c.md", "e.md"),
		vap(rp, "Recto", "vantages/4.md", 0),
	)
	paths := func(a schema.VantagesAnswer) string {
		s := ""
		for _, v := range a.Vantages {
			s += v.Path + ":" + v.BindsStatus + " "
		}
		return fmt.Sprintf("%s[%d/%d t=%v o=%d]", s, a.Count, a.Total, a.Truncated, a.Offset)
	}
	tests := []struct {
		name string
		give schema.VantagesQuery
		want string
	}{
		{"recency across refs", schema.VantagesQuery{Limit: 16}, "vantages/4.md: vantages/3.md:landed-status vantages/2.md:superseded vantages/1.md:superseded [4/4 t=false o=0]"},
		{"author orders by depth", schema.VantagesQuery{Author: "Recto", Limit: 16}, "vantages/1.md:superseded vantages/3.md:landed-status vantages/4.md: [3/3 t=false o=0]"},
		{"entry exact", schema.VantagesQuery{Entry: "e.md", Limit: 16}, "vantages/3.md:landed-status vantages/2.md:superseded vantages/1.md:superseded [3/3 t=false o=0]"},
		{"entry not normalized", schema.VantagesQuery{Entry: "e", Limit: 16}, "[0/0 t=false o=0]"},
		{"limit 0 means 1", schema.VantagesQuery{Entry: "e.md"}, "vantages/3.md:landed-status [1/3 t=true o=0]"},
		{"negative offset", schema.VantagesQuery{Entry: "e.md", Limit: 1, Offset: -4}, "vantages/3.md:landed-status [1/3 t=true o=0]"},
		{"last page", schema.VantagesQuery{Entry: "e.md", Limit: 2, Offset: 2}, "vantages/1.md:superseded [1/3 t=false o=2]"},
		{"past the end", schema.VantagesQuery{Entry: "e.md", Limit: 2, Offset: 7}, "[0/3 t=false o=7]"},
		// Issue 13: start + limit overflowed int and sliced out of range, taking the process down.
		{"max limit from offset 1", schema.VantagesQuery{Entry: "e.md", Limit: math.MaxInt, Offset: 1}, "vantages/2.md:superseded vantages/1.md:superseded [2/3 t=false o=1]"},
		{"max limit and offset", schema.VantagesQuery{Entry: "e.md", Limit: math.MaxInt, Offset: math.MaxInt}, "[0/3 t=false o=9223372036854775807]"},
		{"min limit and offset", schema.VantagesQuery{Entry: "e.md", Limit: math.MinInt, Offset: math.MinInt}, "vantages/3.md:landed-status [1/3 t=true o=0]"},
		{"all", schema.VantagesQuery{Entry: "e.md", All: true}, "vantages/3.md:landed-status vantages/2.md:superseded vantages/1.md:superseded [3/3 t=false o=0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := paths(VantagesFor(all, tt.give, testCanon)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	pointer := VantagesFor(all, schema.VantagesQuery{Limit: 1}, testCanon).Vantages[0]
	full := VantagesFor(all, schema.VantagesQuery{Limit: 1, Full: true}, testCanon).Vantages[0]
	if pointer.Horizon != nil || full.Horizon == nil || *full.Horizon != "horizon of vantages/4.md" || pointer.Preview != *full.Horizon {
		t.Fatalf("detail (T-vap_for-3): %+v / %+v", pointer, full)
	}
}

// TestStatusOf is S-54: canon rows first, else any row, else "".
func TestStatusOf(t *testing.T) {
	all := seq(
		rows.Row{Ref: "refs/cap/perspectives/A", Path: "x.md", Status: "draft"},
		rows.Row{Ref: testCanon, Path: "x.md", Status: "active"},
	)
	if StatusOf(all, "x.md") != "active" || StatusOf(all[:1], "x.md") != "draft" || StatusOf(all, "y.md") != "" {
		t.Fatal("status_of")
	}
}

// TestThreads is S-61/S-62 and T-thread_scry-2.
func TestThreads(t *testing.T) {
	all := seq(
		rows.Row{Ref: "refs/cap/perspectives/B", Path: "a.md", AuthoringInstance: "B", Type: "kno", Title: "A", Thread: "t"},
		rows.Row{Ref: "refs/cap/perspectives/A", Path: "messages/m.md", AuthoringInstance: "A", Type: "msg", Subject: "subj", Thread: "t"},
		rows.Row{Ref: testCanon, Path: "c.md", Type: "kno", Title: "C", Thread: "t"},
		rows.Row{Ref: testCanon, Path: "d.md", Type: "kno", Title: "D", Thread: "u"},
		rows.Row{Ref: testCanon, Path: "e.md", Type: "kno", Title: "E"},
	)
	th := Threads(all).Threads
	if len(th) != 2 || th["t"].Count != 3 || fmt.Sprint(th["t"].Authors) != "[A B]" || th["t"].Latest != (schema.ThreadLatest{Path: "c.md", Ref: testCanon}) ||
		th["u"].Count != 1 || th["u"].Authors == nil {
		t.Fatalf("threads: %+v", th)
	}
	titles := func(a schema.ThreadAnswer) string {
		s := ""
		for _, e := range a.Entries {
			s += e.Title + " "
		}
		return fmt.Sprintf("%s[%d/%d t=%v o=%d]", s, a.Count, a.Total, a.Truncated, a.Offset)
	}
	tests := []struct {
		give schema.ThreadQuery
		want string
	}{
		{schema.ThreadQuery{Thread: "t", Limit: 16}, "C subj A [3/3 t=false o=0]"},
		{schema.ThreadQuery{Thread: "t", Limit: 1}, "C [1/3 t=true o=0]"},
		{schema.ThreadQuery{Thread: "t", Limit: -1, Offset: 1}, "subj A [2/3 t=false o=1]"},
		{schema.ThreadQuery{Thread: "t", Limit: 1, Offset: -5}, "C [1/3 t=true o=-5]"},
		{schema.ThreadQuery{Thread: "t", Limit: 0}, "[0/3 t=true o=0]"},
		{schema.ThreadQuery{Thread: "none", Limit: 16}, "[0/0 t=false o=0]"},
		{schema.ThreadQuery{Thread: "t", Limit: math.MaxInt, Offset: 2}, "A [1/3 t=false o=2]"},
		{schema.ThreadQuery{Thread: "t", Limit: math.MaxInt, Offset: math.MaxInt}, "[0/3 t=false o=9223372036854775807]"},
		{schema.ThreadQuery{Thread: "t", Limit: math.MinInt, Offset: math.MinInt}, "C subj A [3/3 t=false o=-9223372036854775808]"},
	}
	for _, tt := range tests {
		if got := titles(ThreadEntries(all, tt.give)); got != tt.want {
			t.Errorf("%+v: got %s, want %s", tt.give, got, tt.want)
		}
	}
}

// TestArgot is S-70/S-71 and D-27.
func TestArgot(t *testing.T) {
	arg := func(ref, author, path, body string) rows.Row {
		return rows.Row{Ref: ref, Path: path, AuthoringInstance: author, Type: "arg", BodyText: body}
	}
	r, v, x := "refs/cap/perspectives/R", "refs/cap/perspectives/V", "refs/cap/perspectives/X"
	all := seq(
		arg(x, "X", "argot/weft.md", "Weft: other."),
		arg(v, "V", "argot/Weft.md", "Weft: crosswise.\n"),
		arg(r, "R", "argot/weft.md", "  Weft: crosswise."),
		arg(testCanon, "C", "Weft.md", "top level"),
		arg(r, "R", "argot/w%ft.md", "percent"),
		rows.Row{Ref: r, Path: "argot/weft2.md", Type: "kno", BodyText: "not argot"},
	)
	terms := ArgTerms(all).Terms
	if w := terms["weft"]; w.Definitions != 2 || fmt.Sprint(w.Trees) != fmt.Sprint([]string{r, x}) || w.Canon {
		t.Fatalf("arg_terms weft: %+v", w)
	}
	if w := terms["Weft"]; w.Definitions != 2 || !w.Canon || len(w.Trees) != 2 {
		t.Fatalf("arg_terms Weft: %+v", w)
	}
	d := ArgDefinitions(all, "weft")
	if d.Count != 2 || len(d.Definitions[0].Holders) != 2 || d.Definitions[0].Preview != "Weft: crosswise." ||
		d.Definitions[0].Holders[0].Ref != r || d.Definitions[1].Holders[0].Author != "X" {
		t.Fatalf("arg_definitions(weft): %+v", d)
	}
	if d := ArgDefinitions(all, "Weft"); d.Count != 3 || !d.Definitions[0].Canon {
		t.Fatalf("exact top-level path and case-insensitive suffix: %+v", d)
	}
	if d := ArgDefinitions(all, "w_ft"); d.Count != 0 {
		t.Fatalf("_ is literal: %+v", d)
	}
	if d := ArgDefinitions(all, "W%FT"); d.Count != 1 {
		t.Fatalf("%% is literal, case-insensitive: %+v", d)
	}
}
