package gitstore

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// graph builds a named commit graph through Store.Commit.
type graph struct {
	t    *testing.T
	s    *Store
	clk  *clock
	oids map[string]string
	refs map[string]string // commit name → the ref it was made on
}

func newGraph(t *testing.T, s *Store, clk *clock) *graph {
	return &graph{t: t, s: s, clk: clk, oids: map[string]string{}, refs: map[string]string{}}
}

// mk commits name on branch with the given parents (names; the first is the
// branch's tip or where a new branch starts) and changes.
func (g *graph) mk(name, branch string, parents []string, changes ...Change) {
	g.t.Helper()
	ref := "refs/heads/" + branch
	req := CommitRequest{
		Ref: ref, Changes: changes, AuthorName: "seat", AuthorEmail: "seat@stasima.local",
		Message: name + "\n\nop-id: " + name,
	}
	if len(parents) > 0 {
		req.Parent = g.oids[parents[0]]
		if _, ok, _ := g.s.Resolve(ref); !ok {
			if err := g.s.SetRef(context.Background(), ref, req.Parent, ""); err != nil {
				g.t.Fatal(err)
			}
		}
		for _, p := range parents[1:] {
			req.ExtraParents = append(req.ExtraParents, g.oids[p])
		}
	}
	g.oids[name] = mustCommit(g.t, g.s, req).OID
}

func (g *graph) names(oids []string) []string {
	byOID := make(map[string]string)
	for n, o := range g.oids {
		byOID[o] = n
	}
	out := make([]string, len(oids))
	for i, o := range oids {
		out[i] = byOID[o]
		if out[i] == "" {
			out[i] = o
		}
	}
	return out
}

// buildHistoryGraph covers the cases of T-kip_history-2: plain changes, a
// side branch that brings the change (merge TREESAME to its second parent
// only), merges TREESAME to both or to the first parent, an evil merge that
// differs from every parent, delete and re-add, a merge whose first parent
// lacks the path, an octopus, a criss-cross, equal commit times and a clock
// that goes backwards.
func buildHistoryGraph(t *testing.T, g *graph) {
	g.mk("R", "main", nil, put("other.md", "o0"))
	g.mk("A", "main", []string{"R"}, put("p.md", "1"), put("dir/q.md", "q1"))
	g.mk("S1", "side", []string{"A"}, put("p.md", "2"))
	g.mk("S2", "side", []string{"S1"}, put("other.md", "s2"))
	g.mk("B", "main", []string{"A"}, put("other.md", "b"), put("dir/r.md", "r"))
	// Merge result takes p.md from the side: TREESAME to S2 only for p.md.
	g.mk("M1", "main", []string{"B", "S2"}, put("p.md", "2"), put("other.md", "m1"))
	g.mk("C", "main", []string{"M1"}, put("p.md", "3"))

	// Equal commit times across two branches.
	g.clk.freeze(true)
	g.mk("T1", "topic", []string{"C"}, put("dir/q.md", "q2"))
	g.mk("U1", "main", []string{"C"}, put("p.md", "4"))
	g.mk("T2", "topic", []string{"T1"}, put("p.md", "t2"))
	g.mk("U2", "main", []string{"U1"}, put("other.md", "u2"))
	g.clk.freeze(false)

	// Evil merge: p.md differs from both parents.
	g.mk("M2", "main", []string{"U2", "T2"}, put("p.md", "evil"), put("dir/q.md", "q2"))
	// Merge TREESAME to both parents for p.md.
	g.mk("V1", "v", []string{"M2"}, put("other.md", "v1"))
	g.mk("M3", "main", []string{"M2", "V1"}, put("other.md", "v1"))
	// Delete, then re-add.
	g.mk("D", "main", []string{"M3"}, del("p.md"))
	g.mk("W1", "w", []string{"M3"}, put("other.md", "w1"))
	g.mk("E", "main", []string{"D"}, put("p.md", "again"))
	// A merge whose first parent lacks p.md while the result has it from W1's
	// ancestry... built on D's line: first parent D (no p.md), second W1 (p.md
	// = evil), result keeps W1's p.md.
	g.mk("F1", "f", []string{"D"}, put("dir/q.md", "f1"))
	g.mk("M4", "f", []string{"F1", "W1"}, put("p.md", "evil"))
	// Octopus.
	g.mk("O1", "o1", []string{"E"}, put("p.md", "o1"))
	g.mk("O2", "o2", []string{"E"}, put("dir/q.md", "o2"))
	g.mk("M5", "main", []string{"E", "O1", "O2", "M4"}, put("p.md", "o1"), put("dir/q.md", "o2"))
	// Criss-cross.
	g.mk("X1", "x1", []string{"M5"}, put("p.md", "x1"))
	g.mk("Y1", "y1", []string{"M5"}, put("dir/q.md", "y1"))
	g.mk("X2", "x1", []string{"X1", "Y1"}, put("dir/q.md", "y1"))
	g.mk("Y2", "y1", []string{"Y1", "X1"}, put("p.md", "x1"))
	// A clock that goes backwards: G is older than its parent.
	g.clk.mu.Lock()
	g.clk.t = g.clk.t.Add(-time.Hour)
	g.clk.mu.Unlock()
	g.mk("G", "x1", []string{"X2", "Y2"}, put("p.md", "g"))
	g.mk("H", "x1", []string{"G"}, put("other.md", "h"))
}

// T-kip_history-2: History matches `git log --format=%H <tip> -- <path>` for
// every commit as tip and every path kind (file, deleted file, directory,
// absent).
func TestStore_History_MatchesGitLog(t *testing.T) {
	s, dir, clk := newStore(t)
	g := newGraph(t, s, clk)
	buildHistoryGraph(t, g)

	paths := []string{"p.md", "dir/q.md", "dir", "other.md", "dir/r.md", "missing.md"}
	for name, tip := range g.oids {
		for _, p := range paths {
			t.Run(name+"/"+p, func(t *testing.T) {
				want := lines(gitCLI(t, dir, "log", "--format=%H", tip, "--", p))
				hist, err := s.History(tip, p)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, c := range hist {
					got = append(got, c.OID)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("History = %v\ngit log  = %v", g.names(got), g.names(want))
				}
			})
		}
	}

	t.Run("fields", func(t *testing.T) {
		hist, err := s.History(g.oids["C"], "p.md")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"C", "S1", "A"} // M1 is TREESAME to S2 and hidden
		if got := g.names(oids(hist)); !reflect.DeepEqual(got, want) {
			t.Fatalf("History(C, p.md) = %v, want %v", got, want)
		}
		if c := hist[0]; c.AuthorName != "seat" || !strings.HasPrefix(c.Message, "C\n") ||
			!reflect.DeepEqual(c.Parents, []string{g.oids["M1"]}) {
			t.Errorf("History[0] = %+v", c)
		}
	})
}

func oids(cs []CommitInfo) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.OID
	}
	return out
}

// C-pos-1: CountCommits equals `git rev-list --count` for every commit of a
// merge-heavy graph, and is cached (C-pos-4).
func TestStore_CountCommits_MatchesRevList(t *testing.T) {
	s, dir, clk := newStore(t)
	g := newGraph(t, s, clk)
	buildHistoryGraph(t, g)
	for name, oid := range g.oids {
		t.Run(name, func(t *testing.T) {
			want, _ := strconv.Atoi(strings.TrimSpace(gitCLI(t, dir, "rev-list", "--count", oid)))
			got, err := s.CountCommits(oid)
			if err != nil || got != want {
				t.Errorf("CountCommits = %d, %v; git rev-list --count = %d", got, err, want)
			}
		})
	}
	n := len(s.meta)
	if _, err := s.CountCommits(g.oids["H"]); err != nil || len(s.meta) != n {
		t.Errorf("a cached count read more commits (%d → %d) or failed: %v", n, len(s.meta), err)
	}
}

// C-pos-1 on the shape of canon: a long first-parent chain of land merges,
// each bringing a proposal branched from an earlier canon tip.
func TestStore_CountCommits_LandShapedHistory(t *testing.T) {
	s, dir, _ := newStore(t)
	s.fs.noSync = true // durability is not under test; keep the long chain fast
	ctx := context.Background()
	const canon = "refs/heads/main"
	tips := []string{mustCommit(t, s, seatRequest(canon, "", "boot", put("a.md", "0"))).OID}
	for i := 1; i <= 600; i++ {
		tip := tips[len(tips)-1]
		req := seatRequest(canon, tip, fmt.Sprintf("op-%d", i), put("practice/x.md", strconv.Itoa(i)))
		if i%10 == 0 {
			// A proposal created at a canon tip a few lands back, with two commits.
			prop := fmt.Sprintf("refs/cap/proposals/p%d", i)
			base := tips[max(0, len(tips)-1-i%7)]
			if err := s.SetRef(ctx, prop, base, ""); err != nil {
				t.Fatal(err)
			}
			p1 := mustCommit(t, s, seatRequest(prop, base, "p1", put(fmt.Sprintf("meta/log/%x.md", i), "l")))
			p2 := mustCommit(t, s, seatRequest(prop, p1.OID, "p2", put("practice/y.md", strconv.Itoa(i))))
			req.ExtraParents = []string{p2.OID}
		}
		tips = append(tips, mustCommit(t, s, req).OID)
	}
	// Counting the newest first exercises the cold, iterative path.
	for _, i := range []int{600, 599, 300, 10, 0} {
		want, _ := strconv.Atoi(strings.TrimSpace(gitCLI(t, dir, "rev-list", "--count", tips[i])))
		got, err := s.CountCommits(tips[i])
		if err != nil || got != want {
			t.Errorf("CountCommits(tip %d) = %d, %v; want %d", i, got, err, want)
		}
	}
}
