package gitstore

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
)

// emptyTree is git's well-known empty tree: the oracle's "from nothing".
const emptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

// gitDiffNames is `git diff --name-only -z from to`, split on NUL: exact paths.
func gitDiffNames(t *testing.T, dir, from, to string) []string {
	t.Helper()
	if from == "" {
		from = emptyTree
	}
	out := gitCLI(t, dir, "diff", "--name-only", "--no-renames", "-z", from, to)
	var paths []string
	for _, p := range strings.Split(out, "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	return paths
}

// D-15: exact paths, spaces and non-ASCII included, in byte order; file and
// directory swaps; the empty tree as origin.
func TestStore_ChangedPaths_MatchesGit(t *testing.T) {
	s, dir, _ := newStore(t)
	g := &dag{t: t, s: s}
	c1 := g.commit("", nil,
		put("practice/a b.md", "1"), put("practice/café.md", "1"), put("practice/日本.md", "1"),
		put("a-b", "1"), put("a.b", "1"), put("a/b", "1"), put("f", "file"), put("d/x/y", "1"),
		put("keep/deep/k.md", "1"))
	c2 := g.commit(c1, nil,
		put("practice/a b.md", "2"), // modified
		put("practice/new entry.md", "1"),
		del("practice/日本.md"),
		put("a.b", "2"),
		del("f"), put("f/inner file", "now a dir"), // file → directory
		del("d/x/y"), // a directory that empties
	)
	c3 := g.commit(c2, nil, put("d/x", "now a file")) // directory (gone) → file
	c4 := g.commit(c3, nil)                           // same tree

	for _, tt := range []struct {
		name     string
		from, to string
		want     []string // nil: only compare with git
	}{
		{"from the empty tree", "", c1, nil},
		{"modified, added, removed, file to directory", c1, c2, []string{
			"a.b", "d/x/y", "f", "f/inner file", "practice/a b.md", "practice/new entry.md", "practice/日本.md"}},
		{"directory to file", c1, c3, nil},
		{"reverse", c3, c1, nil},
		{"same tree", c3, c4, []string{}},
		{"same commit", c2, c2, []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ChangedPaths(tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			want := gitDiffNames(t, dir, tt.from, tt.to)
			if !slices.Equal(got, want) {
				t.Errorf("ChangedPaths = %q\ngit diff     = %q", got, want)
			}
			if tt.want != nil && !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("ChangedPaths = %q, want %q", got, tt.want)
			}
			if !slices.IsSorted(got) {
				t.Errorf("not in byte order: %q", got)
			}
		})
	}
	if _, err := s.ChangedPaths(c1, strings.Repeat("4", 40)); !fault.Is(err, fault.RefNotFound) {
		t.Errorf("unknown oid err = %v, want RefNotFound", err)
	}
	if _, err := s.ChangedPaths("c1", c1); !fault.Is(err, fault.ArgumentError) {
		t.Errorf("malformed oid err = %v, want ArgumentError", err)
	}
}

// randomHistory writes a random chain of commits over a universe of paths
// whose segments collide in git's tree order ("a", "a b", "a-b", "a.b",
// non-ASCII) and turn between file and directory. It returns every commit.
func randomHistory(t *testing.T, g *dag, rng *rand.Rand, n int) []string {
	segs := []string{"a", "a b", "a-b", "a.b", "café", "b"}
	var universe []string
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		for _, s := range segs {
			p := prefix + s
			universe = append(universe, p)
			if depth < 3 {
				walk(p+"/", depth+1)
			}
		}
	}
	walk("", 1)
	present := map[string]bool{}
	conflicting := func(p string) []string {
		var out []string
		for q := range present {
			if strings.HasPrefix(q, p+"/") || strings.HasPrefix(p, q+"/") {
				out = append(out, q)
			}
		}
		slices.Sort(out)
		return out
	}
	var oids []string
	tip := ""
	for i := 0; i < n; i++ {
		var changes []Change
		for k := rng.IntN(6); k >= 0; k-- {
			p := universe[rng.IntN(len(universe))]
			switch c := conflicting(p); {
			case len(c) > 0:
				// A file cannot become a directory in the commit that removes
				// what is in the way (Commit refuses it); a later one does.
				for _, q := range c {
					changes = append(changes, del(q))
					delete(present, q)
				}
			case present[p] && rng.IntN(3) == 0:
				changes = append(changes, del(p))
				delete(present, p)
			default:
				changes = append(changes, put(p, fmt.Sprint(rng.IntN(3))))
				present[p] = true
			}
		}
		tip = g.commit(tip, nil, changes...)
		oids = append(oids, tip)
	}
	return oids
}

func TestStore_ChangedPaths_RandomMatchesGit(t *testing.T) {
	s, dir, _ := newStore(t)
	s.fs.noSync = true
	g := &dag{t: t, s: s}
	rng := rand.New(rand.NewPCG(3, 5))
	oids := randomHistory(t, g, rng, 40)
	for k := 0; k < 60; k++ {
		from, to := oids[rng.IntN(len(oids))], oids[rng.IntN(len(oids))]
		if k%10 == 0 {
			from = ""
		}
		got, err := s.ChangedPaths(from, to)
		if err != nil {
			t.Fatal(err)
		}
		if want := gitDiffNames(t, dir, from, to); !slices.Equal(got, want) {
			t.Errorf("ChangedPaths(%s, %s) = %q\ngit diff = %q", from, to, got, want)
		}
	}
}

// gitCanonPositions computes C-pos-3 with git: the newest commit of `git log
// --first-parent tip -- path`, placed on `git rev-list --first-parent --reverse`.
func gitCanonPositions(t *testing.T, dir, tip string, paths []string) map[string]int {
	t.Helper()
	chain := lines(gitCLI(t, dir, "rev-list", "--first-parent", "--reverse", tip))
	want := map[string]int{}
	for _, p := range paths {
		newest := strings.TrimSpace(gitCLI(t, dir, "log", "--first-parent", "-n1", "--format=%H", tip, "--", p))
		if newest != "" {
			want[p] = slices.Index(chain, newest) + 1
		}
	}
	return want
}

// C-pos-3 on a chain of lands (merges whose first-parent diff brings the
// proposal's paths) and direct commits, against git log --first-parent.
func TestStore_CanonPositions_MatchesGit(t *testing.T) {
	s, dir, _ := newStore(t)
	g := &dag{t: t, s: s}
	c1 := g.commit("", nil, put("practice/a.md", "1"), put("meta/log/3b.md", "x"), put("practice/café b.md", "1"))
	p1 := g.commit(c1, nil, put("practice/b.md", "1"), put("meta/log/3c.md", "x"))
	p2 := g.commit(p1, nil, put("practice/b.md", "2"))
	c2 := g.commit(c1, []string{p2}, put("practice/b.md", "2"), put("meta/log/3c.md", "x")) // land p2
	q1 := g.commit(c1, nil, put("practice/a.md", "2"))
	c3 := g.commit(c2, []string{q1}, put("practice/a.md", "2")) // land q1, branched before c2
	c4 := g.commit(c3, nil)                                     // touches nothing

	paths := []string{
		"practice/a.md", "practice/b.md", "practice/café b.md", "meta/log/3b.md", "meta/log/3c.md",
		"practice", "meta/log", "practice/absent.md", "absent/x.md",
	}
	for _, tip := range []string{c1, c2, c3, c4} {
		got, err := s.CanonPositions(tip, paths)
		if err != nil {
			t.Fatal(err)
		}
		if want := gitCanonPositions(t, dir, tip, paths); !maps.Equal(got, want) {
			t.Errorf("CanonPositions(%s) = %v\ngit says %v", tip, got, want)
		}
	}
	got, err := s.CanonPositions(c4, []string{"practice/a.md", "practice/b.md", "practice/café b.md", "practice/a.md"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"practice/a.md": 3, "practice/b.md": 2, "practice/café b.md": 1}; !maps.Equal(got, want) {
		t.Errorf("CanonPositions = %v, want %v", got, want)
	}
	if _, err := s.CanonPositions(c4, []string{"practice//a.md"}); !fault.Is(err, fault.ArgumentError) {
		t.Errorf("invalid path err = %v, want ArgumentError", err)
	}
	if got, err := s.CanonPositions(c4, nil); err != nil || len(got) != 0 {
		t.Errorf("no paths = %v, %v", got, err)
	}
}

func TestStore_CanonPositions_RandomMatchesGit(t *testing.T) {
	s, dir, _ := newStore(t)
	s.fs.noSync = true
	g := &dag{t: t, s: s}
	rng := rand.New(rand.NewPCG(9, 1))
	oids := randomHistory(t, g, rng, 30)
	paths := []string{"a", "a b", "a/a", "a/a b/café", "a-b/a.b", "café/b/a", "b", "a.b", "nowhere"}
	for _, tip := range []string{oids[len(oids)-1], oids[len(oids)/2]} {
		got, err := s.CanonPositions(tip, paths)
		if err != nil {
			t.Fatal(err)
		}
		if want := gitCanonPositions(t, dir, tip, paths); !maps.Equal(got, want) {
			t.Errorf("CanonPositions(%s) = %v\ngit says %v", tip, got, want)
		}
	}
}
