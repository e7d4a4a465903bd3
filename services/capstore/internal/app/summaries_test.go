package app

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/stasima/stasima/pkg/refs"
	"github.com/stasima/stasima/services/capstore/internal/gitstore"
)

// TestCanonCommits: the set of canon's commits kept per canon tip grows with lands, is never
// written once handed out, and is rebuilt when canon moves to a commit that does not descend
// from the kept tip (issue 15).
func TestCanonCommits(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	commit := func(ref, parent, path string) string {
		t.Helper()
		res, err := a.git.Commit(ctx, gitstore.CommitRequest{Ref: ref, Parent: parent, AuthorName: "practitioner",
			AuthorEmail: "practitioner@stasima", Message: "write " + path, Changes: []gitstore.Change{{Path: path, Data: []byte(path)}}})
		if err != nil {
			t.Fatal(err)
		}
		return res.OID
	}
	want := func(got map[string]bool, oids ...string) {
		t.Helper()
		if g := slices.Sorted(maps.Keys(got)); !slices.Equal(g, slices.Sorted(slices.Values(oids))) {
			t.Fatalf("canon commits %v, want %v", g, oids)
		}
	}
	c1 := commit(refs.DefaultCanon, "", "a.md")
	c2 := commit(refs.DefaultCanon, c1, "b.md")
	first, err := a.canonCommits(c2)
	if err != nil {
		t.Fatal(err)
	}
	want(first, c1, c2)
	c3 := commit(refs.DefaultCanon, c2, "c.md")
	reads := func() int64 { return a.ledger.Snapshot().GitCalls }
	before := reads()
	grown, err := a.canonCommits(c3)
	if err != nil {
		t.Fatal(err)
	}
	want(grown, c1, c2, c3)
	want(first, c1, c2) // handed out before: unchanged
	// Extended from the kept tip: c3 and the kept c2 where the walk stops, not c1.
	if n := reads() - before; n != 2 {
		t.Fatalf("extending by one land read %d commits, want 2", n)
	}
	before = reads()
	again, err := a.canonCommits(c3)
	if err != nil {
		t.Fatal(err)
	}
	want(again, c1, c2, c3)
	if n := reads() - before; n != 0 {
		t.Fatalf("the kept tip read %d commits again", n)
	}
	// Canon moved to an unrelated history (as a restore may): nothing of the old one is kept.
	other := commit("refs/heads/other", "", "x.md")
	if err := a.git.SetRef(ctx, refs.DefaultCanon, other, c3); err != nil {
		t.Fatal(err)
	}
	moved, err := a.canonCommits(other)
	if err != nil {
		t.Fatal(err)
	}
	want(moved, other)
	// And back to a commit that descends from an older one only: rebuilt, not extended.
	if err := a.git.SetRef(ctx, "refs/heads/side", c1, ""); err != nil {
		t.Fatal(err)
	}
	c4 := commit("refs/heads/side", c1, "d.md")
	back, err := a.canonCommits(c4)
	if err != nil {
		t.Fatal(err)
	}
	want(back, c1, c4)
}
