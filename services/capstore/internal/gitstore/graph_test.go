package gitstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/stasima/stasima/pkg/fault"
)

// dag writes commits with arbitrary parents, each on a scratch ref of its own
// (a ref is created at the first parent, then committed onto).
type dag struct {
	t testing.TB
	s *Store
	n int
}

func (g *dag) commit(parent string, extra []string, changes ...Change) string {
	g.t.Helper()
	ctx := context.Background()
	g.n++
	ref := fmt.Sprintf("refs/heads/scratch/%d", g.n)
	if parent != "" {
		if err := g.s.SetRef(ctx, ref, parent, ""); err != nil {
			g.t.Fatalf("SetRef(%s): %v", ref, err)
		}
	}
	res, err := g.s.Commit(ctx, CommitRequest{
		Ref: ref, Parent: parent, ExtraParents: extra, Changes: changes,
		AuthorName: "seat-1", AuthorEmail: "seat-1@stasima.local",
		Message: fmt.Sprintf("commit %d", g.n),
	})
	if err != nil {
		g.t.Fatalf("Commit(%s): %v", ref, err)
	}
	return res.OID
}

// gitMergeBase is `git merge-base [--all] a b`: ok is false when git finds
// no common ancestor (exit status 1).
func gitMergeBase(t *testing.T, dir string, all bool, a, b string) ([]string, bool) {
	t.Helper()
	args := []string{"merge-base"}
	if all {
		args = append(args, "--all")
	}
	out, err := gitCmd(dir, append(args, a, b)...)
	if ee, isExit := err.(*exec.ExitError); isExit && ee.ExitCode() == 1 && out == "" {
		return nil, false
	}
	if err != nil {
		t.Fatalf("git merge-base %s %s: %v\n%s", a, b, err, out)
	}
	return lines(out), true
}

func gitIsAncestor(t *testing.T, dir, a, b string) bool {
	t.Helper()
	out, err := gitCmd(dir, "merge-base", "--is-ancestor", a, b)
	if ee, isExit := err.(*exec.ExitError); isExit && ee.ExitCode() == 1 {
		return false
	}
	if err != nil {
		t.Fatalf("git merge-base --is-ancestor: %v\n%s", err, out)
	}
	return true
}

// O-merge-2: merge bases on a hand-built graph with a fork, a merge, a
// criss-cross and an unrelated root, against git merge-base.
func TestStore_MergeBase_MatchesGit(t *testing.T) {
	s, dir, _ := newStore(t)
	g := &dag{t: t, s: s}
	r0 := g.commit("", nil, put("a.md", "a"))
	m1 := g.commit(r0, nil, put("b.md", "b"))
	m2 := g.commit(m1, nil, put("c.md", "c"))
	x1 := g.commit(m1, nil, put("x.md", "1"))
	x2 := g.commit(x1, nil, put("x.md", "2"))
	y1 := g.commit(r0, nil, put("y.md", "1"))
	m3 := g.commit(m2, []string{x2}, put("x.md", "2"))
	// Criss-cross: a2 and b2 each merge the other side's first commit.
	a1 := g.commit(m3, nil, put("p.md", "a"))
	b1 := g.commit(m3, nil, put("q.md", "b"))
	a2 := g.commit(a1, []string{b1})
	b2 := g.commit(b1, []string{a1})
	a3 := g.commit(a2, nil, put("p.md", "a3"))
	b3 := g.commit(b2, nil, put("q.md", "b3"))
	u0 := g.commit("", nil, put("u.md", "u"))
	u1 := g.commit(u0, nil, put("u.md", "v"))

	named := map[string]string{
		"r0": r0, "m1": m1, "m2": m2, "x1": x1, "x2": x2, "y1": y1, "m3": m3,
		"a1": a1, "b1": b1, "a2": a2, "b2": b2, "a3": a3, "b3": b3, "u0": u0, "u1": u1,
	}
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, na := range names {
		for _, nb := range names {
			a, b := named[na], named[nb]
			got, ok, err := s.MergeBase(a, b)
			if err != nil {
				t.Fatalf("MergeBase(%s, %s): %v", na, nb, err)
			}
			want, wantOK := gitMergeBase(t, dir, false, a, b)
			if ok != wantOK || ok && got != want[0] {
				t.Errorf("MergeBase(%s, %s) = %s, %v; git says %v", na, nb, got, ok, want)
			}
			all, err := s.mergeBases("test", mustHash(t, a), mustHash(t, b))
			if err != nil {
				t.Fatal(err)
			}
			wantAll, _ := gitMergeBase(t, dir, true, a, b)
			if gotAll := hexes(all); !sameSet(gotAll, wantAll) {
				t.Errorf("merge bases of (%s, %s) = %v; git --all says %v", na, nb, gotAll, wantAll)
			}
		}
	}
	// The criss-cross has two best bases; git and MergeBase pick the newer.
	if all, _ := gitMergeBase(t, dir, true, a3, b3); len(all) != 2 {
		t.Fatalf("criss-cross: git --all = %v, want two bases", all)
	}
	if got, _, _ := s.MergeBase(a3, b3); got != b1 {
		t.Errorf("criss-cross MergeBase = %s, want the newer base b1 %s", got, b1)
	}

	if _, _, err := s.MergeBase(strings.Repeat("1", 40), r0); !fault.Is(err, fault.RefNotFound) {
		t.Errorf("MergeBase(unknown) err = %v, want RefNotFound", err)
	}
	if _, _, err := s.MergeBase("HEAD", r0); !fault.Is(err, fault.ArgumentError) {
		t.Errorf("MergeBase(HEAD) err = %v, want ArgumentError", err)
	}
}

// Merge bases, ancestry and first-parent chains on a random graph of forks,
// merges (octopus included) and several roots, against git.
func TestStore_Graph_RandomMatchesGit(t *testing.T) {
	s, dir, _ := newStore(t)
	s.fs.noSync = true
	g := &dag{t: t, s: s}
	rng := rand.New(rand.NewPCG(7, 11))
	var oids []string
	for i := 0; i < 80; i++ {
		if i == 0 || rng.IntN(25) == 0 {
			oids = append(oids, g.commit("", nil, put("r.md", fmt.Sprint(i))))
			continue
		}
		// Parents lean towards recent commits, as branches do.
		pick := func() string { return oids[len(oids)-1-min(rng.IntN(12), len(oids)-1)] }
		first := pick()
		var extra []string
		for n := rng.IntN(4); n > 1; n-- {
			if p := pick(); p != first && !slices.Contains(extra, p) {
				extra = append(extra, p)
			}
		}
		oids = append(oids, g.commit(first, extra, put(fmt.Sprintf("f%d.md", i%7), fmt.Sprint(i))))
	}
	for k := 0; k < 150; k++ {
		a, b := oids[rng.IntN(len(oids))], oids[rng.IntN(len(oids))]
		got, ok, err := s.MergeBase(a, b)
		if err != nil {
			t.Fatal(err)
		}
		want, wantOK := gitMergeBase(t, dir, false, a, b)
		if ok != wantOK || ok && got != want[0] {
			t.Errorf("MergeBase(%s, %s) = %s, %v; git says %v", a, b, got, ok, want)
		}
		all, err := s.mergeBases("test", mustHash(t, a), mustHash(t, b))
		if err != nil {
			t.Fatal(err)
		}
		if wantAll, _ := gitMergeBase(t, dir, true, a, b); !sameSet(hexes(all), wantAll) {
			t.Errorf("merge bases of (%s, %s) = %v; git --all says %v", a, b, hexes(all), wantAll)
		}
		anc, err := s.IsAncestor(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if want := gitIsAncestor(t, dir, a, b); anc != want {
			t.Errorf("IsAncestor(%s, %s) = %v, git says %v", a, b, anc, want)
		}
	}
	for k := 0; k < 10; k++ {
		tip := oids[rng.IntN(len(oids))]
		got, err := s.FirstParentChain(tip)
		if err != nil {
			t.Fatal(err)
		}
		if want := lines(gitCLI(t, dir, "rev-list", "--first-parent", "--reverse", tip)); !slices.Equal(got, want) {
			t.Errorf("FirstParentChain(%s) = %v, git says %v", tip, got, want)
		}
	}
}

// C-prop-3 shapes: a proposal tip on canon's chain, landed, or diverged.
func TestStore_IsAncestorAndFirstParentChain(t *testing.T) {
	s, dir, _ := newStore(t)
	g := &dag{t: t, s: s}
	c1 := g.commit("", nil, put("a.md", "1"))
	c2 := g.commit(c1, nil, put("b.md", "1"))
	p1 := g.commit(c2, nil, put("p.md", "1"))
	c3 := g.commit(c2, []string{p1}) // the land of p1
	q1 := g.commit(c2, nil, put("q.md", "1"))

	chain, err := s.FirstParentChain(c3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{c1, c2, c3}; !slices.Equal(chain, want) {
		t.Errorf("FirstParentChain = %v, want %v", chain, want)
	}
	if want := lines(gitCLI(t, dir, "rev-list", "--first-parent", "--reverse", c3)); !slices.Equal(chain, want) {
		t.Errorf("FirstParentChain = %v, git says %v", chain, want)
	}
	for _, tt := range []struct {
		name string
		a, b string
		want bool
	}{
		{"itself", c3, c3, true},
		{"on the chain", c1, c3, true},
		{"landed", p1, c3, true},
		{"diverged", q1, c3, false},
		{"descendant", c3, c1, false},
	} {
		got, err := s.IsAncestor(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("%s: IsAncestor = %v, %v; want %v", tt.name, got, err, tt.want)
		}
		if git := gitIsAncestor(t, dir, tt.a, tt.b); git != tt.want {
			t.Errorf("%s: git says %v", tt.name, git)
		}
	}
	if _, err := s.IsAncestor(strings.Repeat("3", 40), c1); !fault.Is(err, fault.RefNotFound) {
		t.Errorf("IsAncestor(unknown) err = %v, want RefNotFound", err)
	}
	if _, err := s.FirstParentChain(strings.Repeat("3", 40)); !fault.Is(err, fault.RefNotFound) {
		t.Errorf("FirstParentChain(unknown) err = %v, want RefNotFound", err)
	}
	// Generations agree with commit counts' cache: CountCommits still counts.
	if n, err := s.CountCommits(c3); err != nil || n != 4 {
		t.Errorf("CountCommits(c3) = %d, %v; want 4", n, err)
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func mustHash(t testing.TB, oid string) plumbing.Hash {
	t.Helper()
	h, ok := fromHex(oid)
	if !ok {
		t.Fatalf("bad oid %q", oid)
	}
	return h
}
