package gitstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
)

const canonRef = "refs/heads/main"

// branch creates ref at oid (create-only, as a proposal opens at canon's
// tip) and commits changes onto it.
func branch(t testing.TB, s *Store, ref, at string, changes ...Change) string {
	t.Helper()
	if err := s.SetRef(context.Background(), ref, at, ""); err != nil {
		t.Fatalf("SetRef(%s): %v", ref, err)
	}
	return mustCommit(t, s, seatRequest(ref, at, "op-"+ref, changes...)).OID
}

// onto commits changes onto ref at its current tip.
func onto(t testing.TB, s *Store, ref string, changes ...Change) string {
	t.Helper()
	tip := mustResolve(t, s, ref)
	return mustCommit(t, s, seatRequest(ref, tip, "op-"+tip, changes...)).OID
}

func candidateRequest(ours, theirs string) CandidateRequest {
	return CandidateRequest{
		Ours: ours, Theirs: theirs,
		Message:    "Merge refs/cap/proposals/p into " + canonRef + "\n\napproved-by: <pending>",
		AuthorName: "capstore", AuthorEmail: "capstore@stasima.local",
	}
}

// gitMergeTree is `git merge-tree --write-tree -z --name-only`: the merged
// tree's oid (with conflict markers when conflicted) and the conflicted
// paths. git writes the merged objects into the repository: count objects
// before calling it.
func gitMergeTree(t *testing.T, dir, ours, theirs string) (tree string, conflicted []string) {
	t.Helper()
	out, err := gitCmd(dir, "merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", ours, theirs)
	if ee, isExit := err.(*exec.ExitError); err != nil && !(isExit && ee.ExitCode() == 1) {
		t.Fatalf("git merge-tree: %v\n%s", err, out)
	}
	fields := strings.Split(out, "\x00")
	for _, f := range fields[1:] {
		if f != "" && !slices.Contains(conflicted, f) {
			conflicted = append(conflicted, f)
		}
	}
	if (err == nil) != (len(conflicted) == 0) {
		t.Fatalf("git merge-tree exit %v with conflicts %q", err, conflicted)
	}
	return strings.TrimSpace(fields[0]), conflicted
}

func lines10(edit map[int]string) string {
	var b strings.Builder
	for i := 1; i <= 10; i++ {
		if l, ok := edit[i]; ok {
			b.WriteString(l + "\n")
		} else {
			b.WriteString("line " + string(rune('0'+i%10)) + "\n")
		}
	}
	return b.String()
}

// O-merge-3..5, -7, -10: clean merges write a candidate whose tree is git's
// merge-tree result, parents [ours, theirs], moving no ref.
func TestStore_PrepareCandidate_MatchesGitMergeTree(t *testing.T) {
	tests := []struct {
		name string
		// build returns canon's tip and the proposal's tip.
		build                   func(t *testing.T, s *Store) (ours, theirs string)
		wantAdds, wantModifies  []string
		wantBlob, wantBlobBytes string // a merged file to check byte for byte
	}{
		{
			name: "disjoint changes",
			build: func(t *testing.T, s *Store) (string, string) {
				c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("a.md", "a"), put("b.md", "b"))).OID
				p := branch(t, s, "refs/cap/proposals/p", c0, put("practice/new entry.md", "n"), put("b.md", "b2"))
				c1 := onto(t, s, canonRef, put("a.md", "a2"), put("c.md", "c"))
				return c1, p
			},
			wantAdds: []string{"practice/new entry.md"}, wantModifies: []string{"b.md"},
		},
		{
			name: "same file, non-overlapping line edits",
			build: func(t *testing.T, s *Store) (string, string) {
				c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("practice/x.md", lines10(nil)))).OID
				p := branch(t, s, "refs/cap/proposals/p", c0, put("practice/x.md", lines10(map[int]string{9: "theirs nine"})))
				c1 := onto(t, s, canonRef, put("practice/x.md", lines10(map[int]string{2: "ours two"})))
				return c1, p
			},
			wantModifies:  []string{"practice/x.md"},
			wantBlob:      "practice/x.md",
			wantBlobBytes: lines10(map[int]string{2: "ours two", 9: "theirs nine"}),
		},
		{
			name: "canon has not moved (the proposal's tree)",
			build: func(t *testing.T, s *Store) (string, string) {
				c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("a.md", "a"))).OID
				return c0, branch(t, s, "refs/cap/proposals/p", c0, put("meta/log/3c.md", "log"), put("a.md", "a2"))
			},
			wantAdds: []string{"meta/log/3c.md"}, wantModifies: []string{"a.md"},
		},
		{
			name: "spaces and non-ASCII paths on both sides, new directories",
			build: func(t *testing.T, s *Store) (string, string) {
				c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("practice/café au lait.md", "1"))).OID
				p := branch(t, s, "refs/cap/proposals/p", c0, put("practice/日本 語.md", "j"), put("new dir/deep/x y.md", "x"))
				c1 := onto(t, s, canonRef, put("practice/café au lait.md", "2"), put("new dir/other.md", "o"))
				return c1, p
			},
			wantAdds: []string{"new dir/deep/x y.md", "practice/日本 語.md"},
		},
		{
			name: "the same change on both sides",
			build: func(t *testing.T, s *Store) (string, string) {
				c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("a.md", "a"))).OID
				p := branch(t, s, "refs/cap/proposals/p", c0, put("a.md", "same"), put("b.md", "same"))
				c1 := onto(t, s, canonRef, put("a.md", "same"), put("b.md", "same"))
				return c1, p
			},
		},
		{
			name: "a proposal already landed",
			build: func(t *testing.T, s *Store) (string, string) {
				c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("a.md", "a"))).OID
				p := branch(t, s, "refs/cap/proposals/p", c0, put("b.md", "b"))
				c1 := mustCommit(t, s, CommitRequest{Ref: canonRef, Parent: c0, ExtraParents: []string{p},
					Changes: []Change{put("b.md", "b")}, AuthorName: "capstore", AuthorEmail: "capstore@stasima.local", Message: "land"}).OID
				return c1, p
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir, _ := newStore(t)
			ours, theirs := tt.build(t, s)
			refsBefore, err := s.ListRefs("")
			if err != nil {
				t.Fatal(err)
			}
			objsBefore := countObjects(t, dir)
			preview, err := s.PreviewMerge(ours, theirs)
			if err != nil {
				t.Fatal(err)
			}
			if n := countObjects(t, dir); n != objsBefore {
				t.Errorf("PreviewMerge wrote %d objects", n-objsBefore)
			}
			oid, prepared, err := s.PrepareCandidate(context.Background(), candidateRequest(ours, theirs))
			if err != nil {
				t.Fatalf("PrepareCandidate: %v", err)
			}
			if !equalPreviews(preview, prepared) {
				t.Errorf("prepare preview %+v differs from PreviewMerge %+v", prepared, preview)
			}
			if len(preview.Conflicts) != 0 || len(preview.Removes) != 0 {
				t.Errorf("preview = %+v, want clean and additive", preview)
			}
			if !slices.Equal(preview.Adds, tt.wantAdds) || !slices.Equal(preview.Modifies, tt.wantModifies) {
				t.Errorf("adds %q modifies %q, want %q %q", preview.Adds, preview.Modifies, tt.wantAdds, tt.wantModifies)
			}
			if want := slices.Sorted(slices.Values(slices.Concat(tt.wantAdds, tt.wantModifies))); !slices.Equal(preview.Changed, want) {
				t.Errorf("changed %q, want %q", preview.Changed, want)
			}
			if base := strings.TrimSpace(gitCLI(t, dir, "merge-base", ours, theirs)); preview.Base != base {
				t.Errorf("base %s, git says %s", preview.Base, base)
			}
			// The delta is the candidate's own diff against canon.
			if got, err := s.ChangedPaths(ours, oid); err != nil || !slices.Equal(got, preview.Changed) && len(got)+len(preview.Changed) > 0 {
				t.Errorf("ChangedPaths(ours, candidate) = %q, %v; preview changed %q", got, err, preview.Changed)
			}

			// Nothing references the candidate; it is a durable commit.
			refsAfter, err := s.ListRefs("")
			if err != nil || !slices.Equal(refsBefore, refsAfter) {
				t.Errorf("refs moved: %v → %v (%v)", refsBefore, refsAfter, err)
			}
			info, err := s.CommitInfo(oid)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(info.Parents, []string{ours, theirs}) || info.AuthorName != "capstore" ||
				info.Message != candidateRequest(ours, theirs).Message {
				t.Errorf("candidate = %+v", info)
			}
			fsck(t, s, dir)

			wantTree, conflicted := gitMergeTree(t, dir, ours, theirs)
			if len(conflicted) != 0 {
				t.Fatalf("git merge-tree conflicts in %q", conflicted)
			}
			if got := strings.TrimSpace(gitCLI(t, dir, "rev-parse", oid+"^{tree}")); got != wantTree {
				t.Errorf("candidate tree %s, git merge-tree %s\nours:\n%s\ngit:\n%s", got, wantTree,
					gitCLI(t, dir, "ls-tree", "-r", oid), gitCLI(t, dir, "ls-tree", "-r", wantTree))
			}
			if tt.wantBlob != "" {
				got, ok, err := s.ReadBlob(oid, tt.wantBlob)
				if err != nil || !ok || string(got) != tt.wantBlobBytes {
					t.Errorf("merged %s = %q, %v, %v; want %q", tt.wantBlob, got, ok, err, tt.wantBlobBytes)
				}
				if git := gitCLI(t, dir, "cat-file", "blob", wantTree+":"+tt.wantBlob); git != string(got) {
					t.Errorf("merged %s = %q, git %q", tt.wantBlob, got, git)
				}
			}
		})
	}
}

func equalPreviews(a, b MergePreview) bool {
	return a.Base == b.Base && slices.Equal(a.Conflicts, b.Conflicts) && slices.Equal(a.Changed, b.Changed) &&
		slices.Equal(a.Adds, b.Adds) && slices.Equal(a.Removes, b.Removes) && slices.Equal(a.Modifies, b.Modifies)
}

// O-merge-10, INV-3: conflicts and removals are refused before anything is
// written.
func TestStore_PrepareCandidate_Refusals(t *testing.T) {
	tests := []struct {
		name          string
		build         func(t *testing.T, s *Store) (ours, theirs string)
		wantClass     fault.Class
		wantMsg       []string
		wantConflicts []string // paths; git merge-tree must agree
		wantRemoves   []string
		wantAdds      []string // the conflicted delta: theirs against base
	}{
		{
			name: "overlapping edits",
			build: func(t *testing.T, s *Store) (string, string) {
				c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("practice/x y.md", lines10(nil)), put("a.md", "a"))).OID
				p := branch(t, s, "refs/cap/proposals/p", c0,
					put("practice/x y.md", lines10(map[int]string{5: "theirs five"})), put("p.md", "p"))
				c1 := onto(t, s, canonRef, put("practice/x y.md", lines10(map[int]string{5: "ours five"})))
				return c1, p
			},
			wantClass:     fault.MergeConflict,
			wantMsg:       []string{"practice/x y.md", "CONFLICT (content): Merge conflict in practice/x y.md"},
			wantConflicts: []string{"practice/x y.md"},
			wantAdds:      []string{"p.md"},
		},
		{
			name: "add/add and modify/delete",
			build: func(t *testing.T, s *Store) (string, string) {
				c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("m.md", "m"))).OID
				p := branch(t, s, "refs/cap/proposals/p", c0, put("n.md", "theirs\n"), del("m.md"))
				c1 := onto(t, s, canonRef, put("n.md", "ours\n"), put("m.md", "m2"))
				return c1, p
			},
			wantClass:     fault.MergeConflict,
			wantMsg:       []string{"m.md", "n.md", "CONFLICT (add/add)", "CONFLICT (modify/delete)"},
			wantConflicts: []string{"m.md", "n.md"},
			wantRemoves:   []string{"m.md"},
			wantAdds:      []string{"n.md"},
		},
		{
			name: "removal of a canon path",
			build: func(t *testing.T, s *Store) (string, string) {
				c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("practice/old one.md", "o"), put("a.md", "a"))).OID
				p := branch(t, s, "refs/cap/proposals/p", c0, del("practice/old one.md"), put("b.md", "b"))
				c1 := onto(t, s, canonRef, put("c.md", "c"))
				return c1, p
			},
			wantClass:   fault.CanonAppendOnly,
			wantMsg:     []string{"append-only", "practice/old one.md"},
			wantRemoves: []string{"practice/old one.md"},
			wantAdds:    []string{"b.md"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir, _ := newStore(t)
			ours, theirs := tt.build(t, s)
			before := countObjects(t, dir)
			oid, preview, err := s.PrepareCandidate(context.Background(), candidateRequest(ours, theirs))
			if fault.ClassOf(err) != tt.wantClass || oid != "" {
				t.Fatalf("PrepareCandidate = %q, %v; want class %s", oid, err, tt.wantClass)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q lacks %q", err, m)
				}
			}
			if n := countObjects(t, dir); n != before {
				t.Errorf("a refused prepare wrote %d objects", n-before)
			}
			var paths []string
			for _, c := range preview.Conflicts {
				if !slices.Contains(paths, c.Path) {
					paths = append(paths, c.Path)
				}
			}
			if !slices.Equal(paths, tt.wantConflicts) || !slices.Equal(preview.Removes, tt.wantRemoves) ||
				!slices.Equal(preview.Adds, tt.wantAdds) {
				t.Errorf("preview = %+v; want conflicts %q removes %q adds %q", preview, tt.wantConflicts, tt.wantRemoves, tt.wantAdds)
			}
			if p, err := s.PreviewMerge(ours, theirs); err != nil || !equalPreviews(p, preview) {
				t.Errorf("PreviewMerge = %+v, %v; prepare's preview %+v", p, err, preview)
			}
			if _, conflicted := gitMergeTree(t, dir, ours, theirs); !slices.Equal(conflicted, tt.wantConflicts) {
				t.Errorf("git merge-tree conflicts %q, want %q", conflicted, tt.wantConflicts)
			}
		})
	}

	t.Run("unrelated histories", func(t *testing.T) {
		s, _, _ := newStore(t)
		c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("a.md", "a"))).OID
		u := mustCommit(t, s, seatRequest("refs/cap/proposals/u", "", "u", put("b.md", "b"))).OID
		if _, err := s.PreviewMerge(c0, u); !fault.Is(err, fault.MergeConflict) || !strings.Contains(err.Error(), "unrelated histories") {
			t.Errorf("PreviewMerge err = %v", err)
		}
		if _, _, err := s.PrepareCandidate(context.Background(), candidateRequest(c0, u)); !fault.Is(err, fault.MergeConflict) {
			t.Errorf("PrepareCandidate err = %v", err)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		s, dir, _ := newStore(t)
		c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("a.md", "a"))).OID
		p := branch(t, s, "refs/cap/proposals/p", c0, put("b.md", "b"))
		before := countObjects(t, dir)
		req := candidateRequest(c0, p)
		req.AuthorEmail = "x<y"
		if _, _, err := s.PrepareCandidate(context.Background(), req); !fault.Is(err, fault.ArgumentError) {
			t.Errorf("bad ident err = %v", err)
		}
		req = candidateRequest(c0, strings.Repeat("5", 40))
		if _, _, err := s.PrepareCandidate(context.Background(), req); !fault.Is(err, fault.RefNotFound) {
			t.Errorf("unknown theirs err = %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := s.PrepareCandidate(ctx, candidateRequest(c0, p)); !errors.Is(err, context.Canceled) {
			t.Errorf("canceled err = %v", err)
		}
		if n := countObjects(t, dir); n != before {
			t.Errorf("refused prepares wrote %d objects", n-before)
		}
	})
}

// O-merge-11, O-land-6, C-log-7: a land is SetRef — canon by CAS from the
// candidate's first parent, the state tag create-only — and a proposal
// branched before another land still merges.
func TestStore_Land_WithSetRef(t *testing.T) {
	s, dir, clk := newStore(t)
	ctx := context.Background()
	c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("practice/a.md", "a"), put("meta/log/3b.md", "3b"))).OID
	p1 := branch(t, s, "refs/cap/proposals/p1", c0, put("practice/b.md", "b"), put("meta/log/3c.md", "3c"))
	p2 := branch(t, s, "refs/cap/proposals/p2", c0, put("practice/c d.md", "c"), put("meta/log/3d.md", "3d"))

	cand1, _, err := s.PrepareCandidate(ctx, candidateRequest(c0, p1))
	if err != nil {
		t.Fatal(err)
	}
	// p2 prepared against the same tip: it will be stale once p1 lands.
	stale2, _, err := s.PrepareCandidate(ctx, candidateRequest(c0, p2))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustResolve(t, s, canonRef); got != c0 {
		t.Fatalf("prepare moved canon to %s", got)
	}
	// The unreferenced candidate survives a restart (durable, never pruned).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, clk)

	info, err := s.CommitInfo(cand1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRef(ctx, canonRef, cand1, info.Parents[0]); err != nil {
		t.Fatalf("land: %v", err)
	}
	if err := s.SetRef(ctx, "refs/tags/state/3c", cand1, ""); err != nil {
		t.Fatalf("tag: %v", err)
	}
	// A retried land and a retried tag are no-ops.
	if err := s.SetRef(ctx, canonRef, cand1, c0); err != nil {
		t.Errorf("re-land: %v", err)
	}
	if err := s.SetRef(ctx, "refs/tags/state/3c", cand1, ""); err != nil {
		t.Errorf("re-tag at the same oid: %v", err)
	}
	if err := s.SetRef(ctx, "refs/tags/state/3c", stale2, ""); !fault.Is(err, fault.StaleRef) {
		t.Errorf("re-tag at another oid err = %v, want StaleRef", err)
	}
	// The stale candidate cannot land: canon moved since it was prepared.
	err = s.SetRef(ctx, canonRef, stale2, c0)
	if !fault.Is(err, fault.StaleRef) || !strings.Contains(err.Error(), cand1) {
		t.Errorf("stale land err = %v, want StaleRef naming %s", err, cand1)
	}
	if got := strings.TrimSpace(gitCLI(t, dir, "rev-parse", canonRef)); got != cand1 {
		t.Fatalf("git sees canon at %s, want %s", got, cand1)
	}

	// Re-prepared against the new tip, p2 (branched before p1 landed) merges.
	cand2, preview, err := s.PrepareCandidate(ctx, candidateRequest(cand1, p2))
	if err != nil {
		t.Fatal(err)
	}
	if preview.Base != c0 || !slices.Equal(preview.Adds, []string{"meta/log/3d.md", "practice/c d.md"}) {
		t.Errorf("preview = %+v", preview)
	}
	wantTree, conflicted := gitMergeTree(t, dir, cand1, p2)
	if got := strings.TrimSpace(gitCLI(t, dir, "rev-parse", cand2+"^{tree}")); got != wantTree || len(conflicted) > 0 {
		t.Errorf("candidate tree %s, git merge-tree %s %q", got, wantTree, conflicted)
	}
	if err := s.SetRef(ctx, canonRef, cand2, cand1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRef(ctx, "refs/tags/state/3d", cand2, ""); err != nil {
		t.Fatal(err)
	}

	// The canon clock and proposal statuses read the landed history.
	chain, err := s.FirstParentChain(cand2)
	if err != nil || !slices.Equal(chain, []string{c0, cand1, cand2}) {
		t.Errorf("FirstParentChain = %v, %v", chain, err)
	}
	pos, err := s.CanonPositions(cand2, []string{"practice/a.md", "practice/b.md", "practice/c d.md", "meta/log/3d.md"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"practice/a.md": 1, "practice/b.md": 2, "practice/c d.md": 3, "meta/log/3d.md": 3}; !maps.Equal(pos, want) {
		t.Errorf("CanonPositions = %v, want %v", pos, want)
	}
	for _, p := range []string{p1, p2} {
		if landed, err := s.IsAncestor(p, cand2); err != nil || !landed {
			t.Errorf("IsAncestor(%s, canon) = %v, %v", p, landed, err)
		}
	}
	if tags := lines(gitCLI(t, dir, "tag", "--list", "state/*", "--points-at", cand2)); !slices.Equal(tags, []string{"state/3d"}) {
		t.Errorf("tags at cand2 = %q", tags)
	}
	fsck(t, s, dir)
}

// The candidate writer handles a path that turns between file and directory
// (a shape PrepareCandidate refuses as a removal, but the tree must still be
// git's): its tree equals git merge-tree's.
func TestStore_MergedTree_FileDirectorySwap(t *testing.T) {
	s, dir, _ := newStore(t)
	c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("f", "file"), put("d/x", "x"), put("d/y/z", "z"), put("k.md", "k"))).OID
	// Commit cannot put a file where the same commit empties a directory.
	branch(t, s, "refs/cap/proposals/p", c0, del("f"), del("d/x"), del("d/y/z"))
	p := onto(t, s, "refs/cap/proposals/p", put("f/inner", "dir now"), put("d", "file now"))
	c1 := onto(t, s, canonRef, put("k.md", "k2"))

	preview, res, oc, err := s.previewMerge("test", mustHash(t, c1), mustHash(t, p))
	if err != nil || len(preview.Conflicts) > 0 {
		t.Fatalf("preview = %+v, %v", preview, err)
	}
	if want := []string{"d/x", "d/y/z", "f"}; !slices.Equal(preview.Removes, want) {
		t.Errorf("removes %q, want %q", preview.Removes, want)
	}
	tree, _, err := s.mergedTree("test", oc.TreeHash, res)
	if err != nil {
		t.Fatal(err)
	}
	if want, conflicted := gitMergeTree(t, dir, c1, p); tree.String() != want || len(conflicted) > 0 {
		t.Errorf("merged tree %s, git merge-tree %s %q", tree, want, conflicted)
	}
}

// Candidates written while other refs move share group-commit batches: an
// objects-only update moves no ref, and every write lands.
func TestStore_PrepareCandidate_Concurrent(t *testing.T) {
	s, dir, _ := newStore(t)
	ctx := context.Background()
	c0 := mustCommit(t, s, seatRequest(canonRef, "", "boot", put("a.md", "a"))).OID
	const n = 8
	props := make([]string, n)
	for i := range props {
		props[i] = branch(t, s, fmt.Sprintf("refs/cap/proposals/p%d", i), c0, put(fmt.Sprintf("p%d.md", i), "p"))
	}
	var wg sync.WaitGroup
	cands := make([]string, n)
	errs := make([]error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			cands[i], _, errs[i] = s.PrepareCandidate(ctx, candidateRequest(c0, props[i]))
		}()
		go func() {
			defer wg.Done()
			ref := fmt.Sprintf("refs/cap/perspectives/seat-%d", i)
			_, errs[n+i] = s.Commit(ctx, seatRequest(ref, "", "op", put("x.md", fmt.Sprint(i))))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	for i, c := range cands {
		if got, ok, err := s.ReadBlob(c, fmt.Sprintf("p%d.md", i)); err != nil || !ok || string(got) != "p" {
			t.Errorf("candidate %d: %q, %v, %v", i, got, ok, err)
		}
	}
	if got := mustResolve(t, s, canonRef); got != c0 {
		t.Errorf("canon moved to %s", got)
	}
	for i := 0; i < n; i++ {
		mustResolve(t, s, fmt.Sprintf("refs/cap/perspectives/seat-%d", i))
	}
	fsck(t, s, dir)
}
