package merge

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// treeGen makes random small trees over a few paths, including a path that
// is a file in some trees and a directory in others. Every line of a file
// names its path, so no two paths have similar contents and git's rename
// detection (which Merge does not do, D-28) never pairs a deletion with an
// addition.
type treeGen struct{ r *rand.Rand }

var treePaths = []string{"a", "b", "d", "d/x", "d/y", "e/f"}

// content returns a version of path's file: lines "path:k" for a subset of
// k in order, some replaced by new lines; occasionally empty or binary.
func (g treeGen) content(path string) []byte {
	switch g.r.IntN(12) {
	case 0:
		return []byte(fmt.Sprintf("%s\x00binary %d\n", path, g.r.IntN(3)))
	case 1:
		return []byte{}
	}
	var b bytes.Buffer
	for k := range 6 {
		switch g.r.IntN(6) {
		case 0: // dropped
		case 1:
			fmt.Fprintf(&b, "%s:new%d\n", path, g.r.IntN(1000))
		default:
			fmt.Fprintf(&b, "%s:%d\n", path, k)
		}
	}
	return b.Bytes()
}

// valid drops the paths below a file of the tree.
func valid(t Tree) Tree {
	for p := range t {
		for dir := range t {
			if strings.HasPrefix(p, dir+"/") {
				delete(t, p)
			}
		}
	}
	return t
}

func (g treeGen) base() Tree {
	t := Tree{}
	for _, p := range treePaths {
		if g.r.IntN(3) != 0 {
			t[p] = g.content(p)
		}
	}
	return valid(t)
}

// side derives a side from base: each path kept, deleted, rewritten or
// (when absent) added.
func (g treeGen) side(base Tree) Tree {
	t := maps.Clone(base)
	for _, p := range treePaths {
		switch g.r.IntN(5) {
		case 0:
			delete(t, p)
		case 1:
			t[p] = g.content(p)
		}
	}
	return valid(t)
}

// gitMergeTree commits the three trees into repo with fast-import and runs
// `git merge-tree --write-tree ours theirs`. It returns the merged tree as
// path → blob id and the (path, kind) of every CONFLICT line.
func gitMergeTree(t *testing.T, repo string, base, ours, theirs Tree) (map[string]string, []Conflict) {
	t.Helper()
	git := func(stdin []byte, args ...string) ([]byte, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+repo)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			err = fmt.Errorf("git %v: %w: %s", args, err, stderr.Bytes())
		}
		return out, err
	}
	var stream bytes.Buffer
	for _, c := range []struct {
		ref  string
		tree Tree
	}{{"base", base}, {"ours", ours}, {"theirs", theirs}} {
		fmt.Fprintf(&stream, "commit refs/heads/%s\ncommitter t <t@t> 0 +0000\ndata 0\n", c.ref)
		if c.ref != "base" {
			stream.WriteString("from refs/heads/base\n")
		}
		stream.WriteString("deleteall\n")
		for _, p := range slices.Sorted(maps.Keys(c.tree)) {
			fmt.Fprintf(&stream, "M 100644 inline %s\ndata %d\n%s\n", p, len(c.tree[p]), c.tree[p])
		}
	}
	if _, err := git(stream.Bytes(), "fast-import", "--quiet", "--force"); err != nil {
		t.Fatal(err)
	}
	out, err := git(nil, "merge-tree", "--write-tree", "ours", "theirs")
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Scan()
	treeID := sc.Text()
	var conflicts []Conflict
	for sc.Scan() {
		if c, ok := parseConflictLine(sc.Text()); ok {
			conflicts = append(conflicts, c)
		}
	}
	slices.SortFunc(conflicts, compareConflicts)
	ls, err := git(nil, "ls-tree", "-r", treeID)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(ls)), "\n") {
		if l == "" {
			continue
		}
		meta, path, _ := strings.Cut(l, "\t")
		blobs[path] = strings.Fields(meta)[2]
	}
	return blobs, conflicts
}

var (
	reMergeConflict = regexp.MustCompile(`^CONFLICT \((content|add/add)\): Merge conflict in (.+)$`)
	reModifyDelete  = regexp.MustCompile(`^CONFLICT \(modify/delete\): (.+) deleted in (ours|theirs) and modified in`)
	reFileDirectory = regexp.MustCompile(`^CONFLICT \(file/directory\): directory in the way of (.+) from (ours|theirs);`)
)

// parseConflictLine reads git's CONFLICT line back into a Conflict.
func parseConflictLine(l string) (Conflict, bool) {
	if m := reMergeConflict.FindStringSubmatch(l); m != nil {
		return Conflict{Path: m[2], Kind: m[1]}, true
	}
	if m := reModifyDelete.FindStringSubmatch(l); m != nil {
		kind := KindModifyDelete
		if m[2] == "ours" {
			kind = KindDeleteModify
		}
		// git moves a modify/delete path out of a directory's way to
		// path~side; Merge reports it under its own path.
		path := strings.TrimSuffix(strings.TrimSuffix(m[1], "~ours"), "~theirs")
		return Conflict{Path: path, Kind: kind}, true
	}
	if m := reFileDirectory.FindStringSubmatch(l); m != nil {
		return Conflict{Path: m[1], Kind: KindFileDirectory, Side: m[2]}, true
	}
	if strings.HasPrefix(l, "CONFLICT") {
		return Conflict{Path: l, Kind: "unparsed"}, true
	}
	return Conflict{}, false
}

// replacedByDirectory reports a file/directory conflict git adds, in merges
// that conflict elsewhere, for a file one side left unchanged and the other
// replaced by a directory. Without other conflicts git merges that cleanly
// (the file goes, the directory stays), as Merge always does; the extra
// report appears to follow from git's rename detection having run, which
// Merge does not do (D-28).
func replacedByDirectory(c Conflict, base, ours, theirs Tree) bool {
	if c.Kind != KindFileDirectory {
		return false
	}
	keep, other := ours, theirs
	if c.Side == "theirs" {
		keep, other = theirs, ours
	}
	b, inBase := base[c.Path]
	k, inKeep := keep[c.Path]
	_, inOther := other[c.Path]
	return inBase && inKeep && !inOther && bytes.Equal(b, k)
}

func blobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// TestMerge_oracle checks Merge against `git merge-tree --write-tree` on
// randomized small trees (O-merge-3, -4, -6): the same conflicted paths and
// kinds, and the same merged tree when clean. Contents use distinct lines
// so that git's histogram diff (merge-tree) and Myers (merge-file, Lines)
// align them alike.
func TestMerge_oracle(t *testing.T) {
	requireGit(t)
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", "--bare", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	g := treeGen{rand.New(rand.NewPCG(*oracleSeed, 6))}
	n := *oracleTrees
	if testing.Short() {
		n = 20
	}
	var clean, conflicted int
	for i := range n {
		base := g.base()
		ours, theirs := g.side(base), g.side(base)
		wantTree, wantConflicts := gitMergeTree(t, repo, base, ours, theirs)
		wantConflicts = slices.DeleteFunc(wantConflicts, func(c Conflict) bool {
			return len(wantConflicts) > 1 && replacedByDirectory(c, base, ours, theirs)
		})
		got := Merge(base, ours, theirs)
		var gotConflicts []Conflict
		for _, c := range got.Conflicts {
			gotConflicts = append(gotConflicts, Conflict{Path: c.Path, Kind: c.Kind, Side: c.Side})
		}
		dump := func() string {
			return fmt.Sprintf("base %q\nours %q\ntheirs %q", base, ours, theirs)
		}
		if !slices.Equal(gotConflicts, wantConflicts) {
			t.Fatalf("case %d: conflicts %v, git %v\n%s", i, gotConflicts, wantConflicts, dump())
		}
		if len(wantConflicts) > 0 {
			conflicted++
			continue
		}
		clean++
		gotTree := map[string]string{}
		for p, b := range got.Tree {
			gotTree[p] = blobID(b)
		}
		if !maps.Equal(gotTree, wantTree) {
			t.Fatalf("case %d: tree %v, git %v\n%s", i, gotTree, wantTree, dump())
		}
	}
	t.Logf("%d clean, %d conflicted", clean, conflicted)
}
