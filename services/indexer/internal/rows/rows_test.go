package rows_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/fixture"
	"github.com/stasima/stasima/services/indexer/internal/rows"
	"github.com/stasima/stasima/services/indexer/internal/sqliteindex"
)

type key struct{ ref, path string }

// S-1…S-5, S-34, S-36: deriving every row of a full reindex from the 0.1.5 deployment's git
// repository reproduces the 34 rows 0.1.5 shipped, column for column.
//
// One column differs by design: content_oid of perspective rows. 0.1.5's inline indexing stored
// the commit oid there; Go stores the blob oid (D-2), as 0.1.5's own reindex and canon indexing
// do. The test pins the shipped value to the newest commit touching the path on that ref, so the
// difference is exactly the documented one. ins_seq (rowid) is store-assigned, not derived.
func TestDerive_ReproducesShippedRows(t *testing.T) {
	d := fixture.Unpack(t)
	ctx := context.Background()
	st, err := sqliteindex.Open(ctx, d.MapIndex())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	shipped, err := st.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[key]rows.Row{}
	for _, r := range shipped {
		want[key{r.Ref, r.Path}] = r
	}

	var got []rows.Row
	for _, src := range d.Sources(t) {
		r, err := rows.Derive(src)
		if err != nil {
			t.Fatalf("Derive(%s:%s): %v", src.Ref, src.Path, err)
		}
		got = append(got, r)
	}
	if err := rows.Embed(ctx, embed.Stub{}, got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) != 34 {
		t.Fatalf("derived %d rows, shipped %d, want 34", len(got), len(want))
	}
	for _, g := range got {
		w, ok := want[key{g.Ref, g.Path}]
		if !ok {
			t.Errorf("derived %s:%s, not shipped", g.Ref, g.Path)
			continue
		}
		if !g.IsCanon {
			if last := d.LastCommit(t, g.Ref, g.Path); w.ContentOID != last {
				t.Errorf("%s:%s shipped content_oid %s, want the inline commit oid %s", g.Ref, g.Path, w.ContentOID, last)
			}
			w.ContentOID = g.ContentOID // D-2: compare the rest
		}
		w.InsSeq = 0
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:%s\n got %+v\nwant %+v", g.Ref, g.Path, g, w)
		}
	}
}

func src(ref, path, text string) rows.Source {
	return rows.Source{CanonRef: "refs/heads/main", Ref: ref, Path: path, BlobOID: "b10b", Text: text}
}

// S-3: non-.md paths and refs other than canon and perspectives are never indexed.
func TestDerive_NotIndexed(t *testing.T) {
	tests := []struct{ name, ref, path string }{
		{"asset", "refs/heads/main", "assets/logo.png"},
		{"proposal", "refs/cap/proposals/p-x", "practice/a.md"},
		{"anchor", "refs/cap/audit-anchor", "a.md"},
		{"backup", "refs/backup/audit", "a.md"},
		{"tag", "refs/tags/state/3c", "a.md"},
		{"empty seat", "refs/cap/perspectives/", "a.md"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := rows.Derive(src(tt.ref, tt.path, "x")); !errors.Is(err, rows.ErrNotIndexed) {
				t.Errorf("err = %v, want ErrNotIndexed", err)
			}
		})
	}
}

// S-1 defaults, D-21 numeric fallbacks, D-32 scalar lists, S-4/S-5 per layer.
func TestDerive_Fields(t *testing.T) {
	const persp = "refs/cap/perspectives/Recto"
	tests := []struct {
		name  string
		give  rows.Source
		check func(rows.Row) bool
	}{
		{"plain markdown", src(persp, "a.md", "# Hi\n\nbody"), func(r rows.Row) bool {
			return r.Status == "active" && r.Type == "" && r.BodyText == "# Hi\n\nbody" && len(r.Tags) == 0 && r.Tags != nil
		}},
		{"empty status stays empty", src(persp, "a.md", "---\nstatus: \n---\n\nb"), func(r rows.Row) bool { return r.Status == "" }},
		{"scalar tags", src(persp, "a.md", "---\ntags: one\nrecipients: Verso\n---\n\nb"), func(r rows.Row) bool {
			return reflect.DeepEqual(r.Tags, []string{"one"}) && reflect.DeepEqual(r.Recipients, []string{"Verso"})
		}},
		{"links win even empty", src(persp, "a.md", "---\nlinks: []\ncoordinates: [x.md]\n---\n\nb"), func(r rows.Row) bool { return len(r.Links) == 0 }},
		{"coordinates else", src(persp, "a.md", "---\ncoordinates: [x.md]\n---\n\nb"), func(r rows.Row) bool { return reflect.DeepEqual(r.Links, []string{"x.md"}) }},
		{"non-numeric depth and salience", src(persp, "a.md", "---\ninstance_depth: deep\nsalience: high\n---\n\nb"), func(r rows.Row) bool {
			return r.InstanceDepth == 0 && r.Salience == 0
		}},
		{"python numerals", src(persp, "a.md", "---\ninstance_depth: +1_0\nsalience: 2_5e-1\n---\n\nb"), func(r rows.Row) bool {
			return r.InstanceDepth == 10 && r.Salience == 2.5
		}},
		{"hex salience refused", src(persp, "a.md", "---\nsalience: 0x1p-2\n---\n\nb"), func(r rows.Row) bool { return r.Salience == 0 }},
		{"perspective author is the seat", src(persp, "a.md", "---\norigin_author: X\n---\n\nb"), func(r rows.Row) bool {
			return r.AuthoringInstance == "Recto" && !r.IsCanon
		}},
		{"canon origin_author wins", rows.Source{CanonRef: "refs/heads/main", Ref: "refs/heads/main", Path: "a.md",
			Text: "---\norigin_author: Recto\ninstance_depth: 9\n---\n\nb", Introducer: "Verso", Position: 3}, func(r rows.Row) bool {
			return r.AuthoringInstance == "Recto" && r.InstanceDepth == 3 && r.IsCanon
		}},
		{"canon introducer", rows.Source{CanonRef: "refs/heads/main", Ref: "refs/heads/main", Path: "a.md",
			Text: "b", Introducer: "Verso", Position: 1}, func(r rows.Row) bool { return r.AuthoringInstance == "Verso" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := rows.Derive(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(r) {
				t.Errorf("row %+v", r)
			}
		})
	}
}

func TestRow_EmbedText(t *testing.T) {
	tests := []struct{ title, body, want string }{
		{"T", "b", "T b"}, {"", "b", "b"}, {"T", "", "T"}, {"", "", ""},
	}
	for _, tt := range tests {
		if got := (rows.Row{Title: tt.title, BodyText: tt.body}).EmbedText(); got != tt.want {
			t.Errorf("EmbedText(%q, %q) = %q", tt.title, tt.body, got)
		}
	}
}

// Row derivation is total: arbitrary text never panics and always yields non-nil lists.
func FuzzDerive(f *testing.F) {
	for _, s := range []string{"", "---", "------", "---\ntype: kno\n---\n\nbody", "---\ntags: [a, b\n---",
		"---\ninstance_depth: 99999999999999999999\nsalience: 1e999\n---\nx", "\xff\xfe---\n:\n---"} {
		f.Add("refs/cap/perspectives/Recto", "a.md", s)
	}
	f.Add("refs/heads/main", "x.md", "---\nlinks: q\n---\n")
	f.Fuzz(func(t *testing.T, ref, path, text string) {
		r, err := rows.Derive(rows.Source{CanonRef: "refs/heads/main", Ref: ref, Path: path, Text: text})
		if err != nil {
			if !errors.Is(err, rows.ErrNotIndexed) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		for _, l := range [][]string{r.Tags, r.Refs, r.Supersedes, r.RegionLabels, r.Links, r.Recipients} {
			if l == nil {
				t.Fatal("nil list")
			}
		}
		if !strings.HasSuffix(r.Path, ".md") {
			t.Fatal("non-.md row")
		}
		_ = embed.StubVector(r.EmbedText())
	})
}
