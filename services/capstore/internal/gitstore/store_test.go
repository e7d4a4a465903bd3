package gitstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
)

// O-bootstrap-1, CONV-4: a directory without an object store becomes a bare
// SHA-1 repository that git accepts; an existing one is opened as is.
func TestOpen_InitsBareSHA1Repository(t *testing.T) {
	s, dir, clk := newStore(t)
	if got := strings.TrimSpace(gitCLI(t, dir, "rev-parse", "--is-bare-repository")); got != "true" {
		t.Errorf("is-bare-repository = %q", got)
	}
	if got := strings.TrimSpace(gitCLI(t, dir, "rev-parse", "--show-object-format")); got != "sha1" {
		t.Errorf("object format = %q", got)
	}
	res := mustCommit(t, s, seatRequest("refs/heads/main", "", "op-1", put("a.md", "a")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, clk)
	if got := mustResolve(t, s2, "refs/heads/main"); got != res.OID {
		t.Errorf("after reopen main = %s, want %s", got, res.OID)
	}
	fsck(t, s, dir)
}

// C-commit-5: create-only, compare-and-swap and stale writes.
func TestStore_Commit_CompareAndSwap(t *testing.T) {
	s, dir, _ := newStore(t)
	ctx := context.Background()
	const ref = "refs/cap/perspectives/seat-1"
	first := mustCommit(t, s, seatRequest(ref, "", "op-1", put("practice/a.md", "1")))
	second := mustCommit(t, s, seatRequest(ref, first.OID, "op-2", put("practice/a.md", "2")))

	tests := []struct {
		name      string
		give      CommitRequest
		wantClass fault.Class
		wantMsg   []string
	}{
		{
			name:      "create-only refused when the ref exists",
			give:      seatRequest(ref, "", "op-3", put("b.md", "b")),
			wantClass: fault.StaleRef,
			wantMsg:   []string{ref, "absent (create-only)", second.OID},
		},
		{
			name:      "stale parent",
			give:      seatRequest(ref, first.OID, "op-3", put("b.md", "b")),
			wantClass: fault.StaleRef,
			wantMsg:   []string{ref, "expected tip " + first.OID, "actual tip " + second.OID},
		},
		{
			name:      "parent given but the ref does not exist",
			give:      seatRequest("refs/cap/proposals/none", first.OID, "op-3", put("b.md", "b")),
			wantClass: fault.StaleRef,
			wantMsg:   []string{"refs/cap/proposals/none", "actual tip absent"},
		},
		{
			name:      "invalid ref name",
			give:      seatRequest("refs/heads/a..b", "", "op-3"),
			wantClass: fault.ArgumentError,
		},
		{
			name:      "short ref name",
			give:      seatRequest("main", "", "op-3"),
			wantClass: fault.ArgumentError,
		},
		{
			name:      "malformed parent oid",
			give:      seatRequest(ref, "ABC", "op-3"),
			wantClass: fault.ArgumentError,
		},
		{
			name:      "path with a .git segment",
			give:      seatRequest(ref, second.OID, "op-3", put("a/.GIT/x", "x")),
			wantClass: fault.ArgumentError,
		},
		{
			name:      "path with an empty segment",
			give:      seatRequest(ref, second.OID, "op-3", put("a//x", "x")),
			wantClass: fault.ArgumentError,
		},
		{
			name:      "author with angle bracket",
			give:      func() CommitRequest { r := seatRequest(ref, second.OID, "op-3"); r.AuthorName = "a<b"; return r }(),
			wantClass: fault.ArgumentError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := countObjects(t, dir)
			_, err := s.Commit(ctx, tt.give)
			if got := fault.ClassOf(err); got != tt.wantClass {
				t.Fatalf("class = %s (%v), want %s", got, err, tt.wantClass)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q does not name %q", err, m)
				}
			}
			if got := mustResolve(t, s, ref); got != second.OID {
				t.Errorf("ref moved to %s", got)
			}
			if after := countObjects(t, dir); after != before {
				t.Errorf("objects %d → %d: a refused write wrote objects", before, after)
			}
		})
	}

	t.Run("create-only on a new ref", func(t *testing.T) {
		res := mustCommit(t, s, seatRequest("refs/cap/proposals/p1", "", "op-4", put("x.md", "x")))
		if len(res.Parents) != 0 || res.Replayed {
			t.Errorf("result = %+v, want a root commit", res)
		}
	})
	t.Run("cas moves from the expected tip", func(t *testing.T) {
		res := mustCommit(t, s, seatRequest(ref, second.OID, "op-5", put("b.md", "b")))
		if !reflect.DeepEqual(res.Parents, []string{second.OID}) {
			t.Errorf("parents = %v", res.Parents)
		}
		if got := mustResolve(t, s, ref); got != res.OID {
			t.Errorf("ref = %s, want %s", got, res.OID)
		}
	})
	fsck(t, s, dir)
}

// C-commit-6: a replay returns the tip and writes nothing, and it is tip-local.
func TestStore_Commit_Replay(t *testing.T) {
	s, dir, _ := newStore(t)
	const ref = "refs/cap/perspectives/seat-1"
	first := mustCommit(t, s, seatRequest(ref, "", "op-1", put("practice/a.md", "1"), put("practice/b.md", "b")))

	t.Run("same op_id on the tip replays even with a stale parent", func(t *testing.T) {
		objects := countObjects(t, dir)
		// Checked before the CAS precondition: the request still names no parent.
		res := mustCommit(t, s, seatRequest(ref, "", "op-1", put("practice/a.md", "1"), put("practice/b.md", "b")))
		want := CommitResult{OID: first.OID, Parents: []string{}, Replayed: true, Paths: []string{"practice/a.md", "practice/b.md"}}
		if !reflect.DeepEqual(res, want) {
			t.Errorf("replay = %+v, want %+v", res, want)
		}
		if got := countObjects(t, dir); got != objects {
			t.Errorf("objects %d → %d during a replay", objects, got)
		}
		if got := mustResolve(t, s, ref); got != first.OID {
			t.Errorf("ref moved to %s", got)
		}
	})

	second := mustCommit(t, s, seatRequest(ref, first.OID, "op-2", put("practice/a.md", "2")))
	t.Run("op_id reused after the ref moved makes a new commit", func(t *testing.T) {
		res := mustCommit(t, s, seatRequest(ref, second.OID, "op-1", put("practice/a.md", "1")))
		if res.Replayed || res.OID == first.OID || !reflect.DeepEqual(res.Parents, []string{second.OID}) {
			t.Errorf("result = %+v, want a new commit on %s", res, second.OID)
		}
	})
	t.Run("op_id reused after the ref moved with a stale parent is StaleRef", func(t *testing.T) {
		_, err := s.Commit(context.Background(), seatRequest(ref, first.OID, "op-2"))
		if !fault.Is(err, fault.StaleRef) {
			t.Errorf("err = %v, want StaleRef", err)
		}
	})
	t.Run("trailer matched case-insensitively per C-commit-4", func(t *testing.T) {
		tip := mustResolve(t, s, ref)
		req := seatRequest(ref, tip, "")
		req.Message = "KIP y\n\nOP-ID:   op-9  \ninstance-id: seat-1"
		made := mustCommit(t, s, req)
		again := seatRequest(ref, tip, "op-9")
		res := mustCommit(t, s, again)
		if !res.Replayed || res.OID != made.OID {
			t.Errorf("result = %+v, want replay of %s", res, made.OID)
		}
		oid, opID, ok, err := s.TipOpID(ref)
		if err != nil || !ok || oid != made.OID || opID != "op-9" {
			t.Errorf("TipOpID = %s, %q, %v, %v", oid, opID, ok, err)
		}
	})
	fsck(t, s, dir)
}

// The replay check reads the tip's op-id with commitmsg.Trailer, the reader capstore's tools use
// (D-40): a Python line break in a subject is not a line break, so a subject cannot forge the
// op-id that makes a later write a replay, and git's own trailer parser agrees.
func TestStore_Commit_ReplayReadsGitLines(t *testing.T) {
	s, dir, _ := newStore(t)
	const ref = "refs/cap/perspectives/seat-1"
	for _, sep := range []string{"\u2028", "\u2029", "\u0085", "\x1c", "\x1d", "\x1e", "\v", "\f", "\r"} {
		tip, _, _ := s.Resolve(ref)
		req := seatRequest(ref, tip, "", put("practice/a.md", "x"))
		req.Message = "KIP a" + sep + sep + "op-id: forged\n\nop-id: real-" + fmt.Sprintf("%x", sep) + "\ninstance-id: seat-1"
		made := mustCommit(t, s, req)
		res := mustCommit(t, s, seatRequest(ref, made.OID, "forged", put("practice/a.md", "y")))
		if res.Replayed {
			t.Fatalf("separator %q: a write with op-id %q replayed the tip whose subject only mentions it", sep, "forged")
		}
		if _, opID, _, _ := s.TipOpID(ref); opID != "forged" {
			t.Fatalf("separator %q: TipOpID = %q after the new commit, want %q", sep, opID, "forged")
		}
		got := strings.TrimSpace(gitCLI(t, dir, "log", "-1", "--format=%(trailers:key=op-id,valueonly)", made.OID))
		if want := "real-" + fmt.Sprintf("%x", sep); got != want {
			t.Fatalf("separator %q: git reads op-id %q, want %q", sep, got, want)
		}
	}
}

// C-commit-1: trees are the parent's tree plus the change list in order.
func TestStore_Commit_Trees(t *testing.T) {
	s, dir, _ := newStore(t)
	const ref = "refs/cap/perspectives/seat-1"
	tip := ""
	step := 0
	commit := func(t *testing.T, changes ...Change) CommitResult {
		t.Helper()
		step++
		res := mustCommit(t, s, seatRequest(ref, tip, "op-"+string(rune('a'+step)), changes...))
		tip = res.OID
		return res
	}
	tree := func(t *testing.T) map[string]string {
		t.Helper()
		got := make(map[string]string)
		for _, l := range lines(gitCLI(t, dir, "ls-tree", "-r", "-z", tip)) {
			for _, rec := range strings.Split(strings.TrimRight(l, "\x00"), "\x00") {
				meta, path, _ := strings.Cut(rec, "\t")
				f := strings.Fields(meta)
				if f[0] != "100644" || f[1] != "blob" {
					t.Errorf("%s: mode %s type %s, want 100644 blob", path, f[0], f[1])
				}
				got[path] = gitCLI(t, dir, "cat-file", "blob", f[2])
			}
		}
		return got
	}
	treeOID := func(t *testing.T, oid string) string {
		return strings.TrimSpace(gitCLI(t, dir, "rev-parse", oid+"^{tree}"))
	}

	tests := []struct {
		name      string
		give      []Change
		wantTree  map[string]string
		wantPaths []string
	}{
		{
			name:      "nested paths on an empty tree",
			give:      []Change{put("practice/deep/x.md", "x"), put("practice/y.md", "y"), put("top.md", "t")},
			wantTree:  map[string]string{"practice/deep/x.md": "x", "practice/y.md": "y", "top.md": "t"},
			wantPaths: []string{"practice/deep/x.md", "practice/y.md", "top.md"},
		},
		{
			name:      "changes apply in order; the last write wins",
			give:      []Change{put("practice/y.md", "y2"), put("practice/y.md", "y3"), put("new/z.md", "z"), del("new/z.md")},
			wantTree:  map[string]string{"practice/deep/x.md": "x", "practice/y.md": "y3", "top.md": "t"},
			wantPaths: []string{"practice/y.md"},
		},
		{
			name:      "deleting an absent path is a no-op",
			give:      []Change{del("nope.md"), del("practice/nope/x.md"), del("top.md/x")},
			wantTree:  map[string]string{"practice/deep/x.md": "x", "practice/y.md": "y3", "top.md": "t"},
			wantPaths: nil,
		},
		{
			name:      "deleting a directory path is a no-op",
			give:      []Change{del("practice/deep")},
			wantTree:  map[string]string{"practice/deep/x.md": "x", "practice/y.md": "y3", "top.md": "t"},
			wantPaths: nil,
		},
		{
			name:      "deleting the last file drops the emptied directories",
			give:      []Change{del("practice/deep/x.md")},
			wantTree:  map[string]string{"practice/y.md": "y3", "top.md": "t"},
			wantPaths: []string{"practice/deep/x.md"},
		},
		{
			name:      "rewriting identical bytes changes no path",
			give:      []Change{put("top.md", "t")},
			wantTree:  map[string]string{"practice/y.md": "y3", "top.md": "t"},
			wantPaths: nil,
		},
		{
			name:      "empty file",
			give:      []Change{put("empty.md", "")},
			wantTree:  map[string]string{"empty.md": "", "practice/y.md": "y3", "top.md": "t"},
			wantPaths: []string{"empty.md"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := tip
			res := commit(t, tt.give...)
			if got := tree(t); !reflect.DeepEqual(got, tt.wantTree) {
				t.Errorf("tree = %v, want %v", got, tt.wantTree)
			}
			if !reflect.DeepEqual(res.Paths, tt.wantPaths) {
				t.Errorf("paths = %q, want %q", res.Paths, tt.wantPaths)
			}
			if parent != "" && !reflect.DeepEqual(res.Parents, []string{parent}) {
				t.Errorf("parents = %v, want [%s]", res.Parents, parent)
			}
		})
	}

	t.Run("a commit is made even when the tree is unchanged", func(t *testing.T) {
		parent := tip
		res := commit(t)
		if res.OID == parent {
			t.Fatal("no new commit")
		}
		if treeOID(t, res.OID) != treeOID(t, parent) {
			t.Error("tree changed")
		}
	})
	t.Run("a root commit with no changes has the empty tree", func(t *testing.T) {
		res := mustCommit(t, s, seatRequest("refs/cap/proposals/empty", "", "op-e"))
		if got := treeOID(t, res.OID); got != "4b825dc642cb6eb9a060e54bf8d69288fbee4904" {
			t.Errorf("tree = %s, want git's empty tree", got)
		}
	})

	conflicts := []struct {
		name string
		give Change
	}{
		{"a file where a directory is", put("practice", "x")},
		{"a path through a file", put("top.md/x.md", "x")},
	}
	for _, tt := range conflicts {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			_, err := s.Commit(context.Background(), seatRequest(ref, tip, "op-c", tt.give))
			if !fault.Is(err, fault.ArgumentError) {
				t.Errorf("err = %v, want ArgumentError", err)
			}
		})
	}
	fsck(t, s, dir)
}

// C-commit-2, C-commit-7: the message is written verbatim (no trailing newline
// added), the committer comes from Config, times carry a UTC offset.
func TestStore_Commit_Format(t *testing.T) {
	s, dir, _ := newStore(t)
	req := seatRequest("refs/cap/perspectives/seat-1", "", "op-1", put("a.md", "a"))
	res := mustCommit(t, s, req)
	raw := gitCLI(t, dir, "cat-file", "commit", res.OID)
	_, msg, _ := strings.Cut(raw, "\n\n")
	if msg != req.Message {
		t.Errorf("message = %q, want %q", msg, req.Message)
	}
	for _, want := range []string{
		"\nauthor seat-1 <seat-1@stasima.local> 1735769046 +0000\n",
		"\ncommitter capstore <capstore@stasima.local> 1735769046 +0000\n",
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("commit %q lacks %q", raw, want)
		}
	}
	info, err := s.CommitInfo(res.OID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Message != req.Message || info.AuthorName != "seat-1" || info.AuthorEmail != "seat-1@stasima.local" ||
		info.Time.Unix() != 1735769046 || len(info.Parents) != 0 || info.OID != res.OID {
		t.Errorf("CommitInfo = %+v", info)
	}
	if _, err := s.CommitInfo(strings.Repeat("0", 40)); !fault.Is(err, fault.RefNotFound) {
		t.Errorf("CommitInfo(unknown) err = %v, want RefNotFound", err)
	}
}

// C-path-5, D-15: exact paths, spaces and non-ASCII included, in byte order.
func TestStore_ListPaths_ExactByteOrder(t *testing.T) {
	s, dir, _ := newStore(t)
	paths := []string{
		"practice/with space.md", "practice/ünïcödé.md", "practice/日本語/ノート.md",
		"a.md", "a/b.md", "a-b.md", "a b/c.md", "Z.md", "z.md", "practice/x*?[].md", "tab\u00a0nbsp.md",
	}
	var changes []Change
	for _, p := range paths {
		changes = append(changes, put(p, "body of "+p))
	}
	res := mustCommit(t, s, seatRequest("refs/heads/main", "", "op-1", changes...))

	got, err := s.ListPaths(res.OID)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string(nil), paths...)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListPaths = %q, want %q", got, want)
	}
	// Under a path: that path and the paths below it, exactly as filtering the whole listing.
	for _, under := range []string{"practice", "practice/日本語", "a", "a/b.md", "a b", "absent", "a/b.md/c", "practic"} {
		got, err := s.ListPathsUnder(res.OID, under)
		if err != nil {
			t.Fatal(err)
		}
		w := []string{}
		for _, p := range want {
			if p == under || strings.HasPrefix(p, under+"/") {
				w = append(w, p)
			}
		}
		if !slices.Equal(got, w) {
			t.Errorf("ListPathsUnder(%q) = %q, want %q", under, got, w)
		}
	}
	// The git oracle, unquoted (-z), in its own tree-walk order.
	oracle := strings.Split(strings.TrimRight(gitCLI(t, dir, "ls-tree", "-r", "-z", "--name-only", res.OID), "\x00"), "\x00")
	if !reflect.DeepEqual(got, oracle) {
		t.Errorf("ListPaths = %q, git ls-tree = %q", got, oracle)
	}
	for _, p := range paths {
		b, ok, err := s.ReadBlob(res.OID, p)
		if err != nil || !ok || string(b) != "body of "+p {
			t.Errorf("ReadBlob(%q) = %q, %v, %v", p, b, ok, err)
		}
	}
	fsck(t, s, dir)
}

func TestStore_ReadBlob(t *testing.T) {
	s, dir, _ := newStore(t)
	res := mustCommit(t, s, seatRequest("refs/heads/main", "", "op-1", put("practice/a.md", "A"), put("b.md", "B")))
	tests := []struct {
		name   string
		give   string
		want   string
		wantOK bool
	}{
		{"nested file", "practice/a.md", "A", true},
		{"top file", "b.md", "B", true},
		{"absent", "practice/none.md", "", false},
		{"a directory is not a blob", "practice", "", false},
		{"through a file", "b.md/x", "", false},
		{"empty path", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok, err := s.ReadBlob(res.OID, tt.give)
			if err != nil || ok != tt.wantOK || string(b) != tt.want {
				t.Errorf("ReadBlob = %q, %v, %v; want %q, %v", b, ok, err, tt.want, tt.wantOK)
			}
			oid, ok, err := s.BlobOID(res.OID, tt.give)
			if err != nil || ok != tt.wantOK {
				t.Fatalf("BlobOID = %q, %v, %v", oid, ok, err)
			}
			if ok {
				if want := strings.TrimSpace(gitCLI(t, dir, "rev-parse", res.OID+":"+tt.give)); oid != want {
					t.Errorf("BlobOID = %s, git says %s", oid, want)
				}
			}
		})
	}
	if _, _, err := s.ReadBlob(strings.Repeat("1", 40), "b.md"); !fault.Is(err, fault.RefNotFound) {
		t.Errorf("ReadBlob(unknown commit) err = %v, want RefNotFound", err)
	}
}

// TestStore_ReadBlobs: read_blobs' store half answers every path as ReadBlob and BlobOID do, in
// the order asked (repeats included), and cuts the answer before the byte bound, never below one
// path (issue 15).
func TestStore_ReadBlobs(t *testing.T) {
	s, _, _ := newStore(t)
	res := mustCommit(t, s, seatRequest("refs/heads/main", "", "op-1", put("practice/a.md", "AAAA"),
		put("practice/b.md", "BBBB"), put("b.md", "B"), put("other/deep/c.md", "CC")))
	paths := []string{"practice/b.md", "b.md", "practice/none.md", "practice", "b.md/x", "", "practice//a.md",
		"other/deep/c.md", "practice/a.md", "b.md", "practice/"}
	got, err := s.ReadBlobs(res.OID, paths, 1<<20)
	if err != nil || len(got) != len(paths) {
		t.Fatalf("ReadBlobs = %d blobs, %v; want %d", len(got), err, len(paths))
	}
	for i, p := range paths {
		data, ok, err := s.ReadBlob(res.OID, p)
		if err != nil {
			t.Fatal(err)
		}
		oid, _, _ := s.BlobOID(res.OID, p)
		if g := got[i]; g.Path != p || g.OK != ok || string(g.Data) != string(data) || g.OID != oid {
			t.Errorf("ReadBlobs[%d] = %+v; ReadBlob says %q %v %s", i, g, data, ok, oid)
		}
	}
	// The bound: 4+4 bytes fit in 9, the third blob (1 byte) too, the fourth (2 bytes) not.
	cut, err := s.ReadBlobs(res.OID, []string{"practice/a.md", "practice/b.md", "practice/none.md", "b.md", "other/deep/c.md"}, 9)
	if err != nil || len(cut) != 4 {
		t.Errorf("ReadBlobs(bound 9) = %d blobs, %v; want 4", len(cut), err)
	}
	one, err := s.ReadBlobs(res.OID, []string{"practice/a.md", "practice/b.md"}, 1)
	if err != nil || len(one) != 1 || !one[0].OK {
		t.Errorf("ReadBlobs(bound 1) = %+v, %v; want the first blob alone", one, err)
	}
	if _, err := s.ReadBlobs(strings.Repeat("1", 40), []string{"b.md"}, 1<<20); !fault.Is(err, fault.RefNotFound) {
		t.Errorf("ReadBlobs(unknown commit) err = %v, want RefNotFound", err)
	}
}

// C-log-7 and the ref listing.
func TestStore_SetRefAndListRefs(t *testing.T) {
	s, dir, _ := newStore(t)
	ctx := context.Background()
	a := mustCommit(t, s, seatRequest("refs/heads/main", "", "op-1", put("a.md", "a")))
	b := mustCommit(t, s, seatRequest("refs/heads/main", a.OID, "op-2", put("a.md", "b")))
	mustCommit(t, s, seatRequest("refs/cap/perspectives/seat-2", "", "op-3"))
	mustCommit(t, s, seatRequest("refs/cap/perspectives/nested/seat", "", "op-4"))

	tests := []struct {
		name           string
		ref, new, old  string
		wantClass      fault.Class // "" for success
		wantAfter      string
		wantMsgContain string
	}{
		{"create tag", "refs/tags/state/3c", a.OID, "", "", a.OID, ""},
		{"re-create at the same oid is a no-op", "refs/tags/state/3c", a.OID, "", "", a.OID, ""},
		{"re-create at another oid is refused", "refs/tags/state/3c", b.OID, "", fault.StaleRef, a.OID, "refs/tags/state/3c"},
		{"cas with the wrong old", "refs/cap/audit-anchor", b.OID, a.OID, fault.StaleRef, "", "actual tip absent"},
		{"create anchor", "refs/cap/audit-anchor", a.OID, "", "", a.OID, ""},
		{"cas anchor forward", "refs/cap/audit-anchor", b.OID, a.OID, "", b.OID, ""},
		{"unknown object", "refs/tags/state/3d", strings.Repeat("2", 40), "", fault.RefNotFound, "", ""},
		{"invalid name", "refs/tags/state/x.lock", a.OID, "", fault.ArgumentError, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.SetRef(ctx, tt.ref, tt.new, tt.old)
			if got := fault.ClassOf(err); err != nil && got != tt.wantClass || err == nil && tt.wantClass != "" {
				t.Fatalf("SetRef err = %v, want class %q", err, tt.wantClass)
			}
			if tt.wantMsgContain != "" && !strings.Contains(err.Error(), tt.wantMsgContain) {
				t.Errorf("message %q lacks %q", err, tt.wantMsgContain)
			}
			if tt.wantClass == fault.ArgumentError {
				return
			}
			oid, ok, err := s.Resolve(tt.ref)
			if err != nil || oid != tt.wantAfter || ok != (tt.wantAfter != "") {
				t.Errorf("Resolve = %q, %v, %v; want %q", oid, ok, err, tt.wantAfter)
			}
		})
	}

	// A ref that git packed (and whose loose file is gone) still resolves and lists.
	gitCLI(t, dir, "update-ref", "refs/tags/packed", a.OID)
	gitCLI(t, dir, "pack-refs", "--all")
	if _, err := os.Stat(filepath.Join(dir, "refs/tags/packed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pack-refs left the loose ref: %v", err)
	}
	if got := mustResolve(t, s, "refs/tags/packed"); got != a.OID {
		t.Errorf("packed ref = %s", got)
	}
	// A loose ref shadows its packed value.
	if err := s.SetRef(ctx, "refs/tags/packed", b.OID, a.OID); err != nil {
		t.Fatal(err)
	}

	refs, err := s.ListRefs("")
	if err != nil {
		t.Fatal(err)
	}
	want := []Ref{
		{"refs/cap/audit-anchor", b.OID},
		{"refs/cap/perspectives/nested/seat", mustResolve(t, s, "refs/cap/perspectives/nested/seat")},
		{"refs/cap/perspectives/seat-2", mustResolve(t, s, "refs/cap/perspectives/seat-2")},
		{"refs/heads/main", b.OID},
		{"refs/tags/packed", b.OID},
		{"refs/tags/state/3c", a.OID},
	}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("ListRefs = %v\nwant %v", refs, want)
	}
	oracle := lines(gitCLI(t, dir, "for-each-ref", "--format=%(refname) %(objectname)"))
	var gotLines []string
	for _, r := range refs {
		gotLines = append(gotLines, r.Name+" "+r.OID)
	}
	if !reflect.DeepEqual(gotLines, oracle) {
		t.Errorf("ListRefs = %q, git for-each-ref = %q", gotLines, oracle)
	}
	persp, err := s.ListRefs("refs/cap/perspectives/")
	if err != nil || len(persp) != 2 || persp[0].Name != "refs/cap/perspectives/nested/seat" {
		t.Errorf("ListRefs(perspectives) = %v, %v", persp, err)
	}
	// The walk starts at the prefix's directory: loose refs written by git below it list, a
	// partial last component matches by name, and a prefix that climbs out lists from refs/.
	gitCLI(t, dir, "update-ref", "refs/cap/perspectives/loose", a.OID)
	gitCLI(t, dir, "update-ref", "refs/cap/perspectives/nested/deeper/x", b.OID)
	for prefix, want := range map[string][]string{
		"refs/cap/perspectives/":        {"refs/cap/perspectives/loose", "refs/cap/perspectives/nested/deeper/x", "refs/cap/perspectives/nested/seat", "refs/cap/perspectives/seat-2"},
		"refs/cap/perspectives/lo":      {"refs/cap/perspectives/loose"},
		"refs/cap/perspectives/nested/": {"refs/cap/perspectives/nested/deeper/x", "refs/cap/perspectives/nested/seat"},
		"refs/cap/perspectives/none/":   nil,
		"refs/tags/":                    {"refs/tags/packed", "refs/tags/state/3c"},
		"refs/../refs/tags/":            nil,
		// Hostile prefixes list nothing and are no backend fault: a NUL, invalid UTF-8, a
		// directory part that is a loose ref's file, too long a name or path.
		"refs/cap/perspectives/\x00/":                  nil,
		"refs/cap/\x00perspectives/seat":               nil,
		"refs/cap/perspectives/\xff\xfe/":              nil,
		"refs/cap/perspectives/loose/":                 nil,
		"refs/cap/perspectives/loose/x/y":              nil,
		"refs/cap/" + strings.Repeat("x", 300) + "/":   nil,
		"refs/cap/" + strings.Repeat("a/", 3000) + "b": nil,
	} {
		got, err := s.ListRefs(prefix)
		var names []string
		for _, r := range got {
			names = append(names, r.Name)
		}
		if err != nil || !reflect.DeepEqual(names, want) {
			t.Errorf("ListRefs(%q) = %q, %v; want %q", prefix, names, err, want)
		}
	}
	fsck(t, s, dir)
}

// ARCH-9: an out-of-band git writer and the store exclude each other through
// git's lockfile protocol and fail cleanly.
func TestStore_OutOfBandWriter(t *testing.T) {
	s, dir, _ := newStore(t)
	const ref = "refs/cap/perspectives/seat-1"
	a := mustCommit(t, s, seatRequest(ref, "", "op-1", put("a.md", "a")))

	t.Run("git moved the ref: StaleRef", func(t *testing.T) {
		side := mustCommit(t, s, seatRequest("refs/heads/side", "", "op-s", put("s.md", "s")))
		gitCLI(t, dir, "update-ref", ref, side.OID, a.OID)
		_, err := s.Commit(context.Background(), seatRequest(ref, a.OID, "op-2", put("b.md", "b")))
		if !fault.Is(err, fault.StaleRef) {
			t.Fatalf("err = %v, want StaleRef", err)
		}
		gitCLI(t, dir, "update-ref", ref, a.OID, side.OID)
	})
	t.Run("git holds the ref lock: refused, ref unchanged, lock kept", func(t *testing.T) {
		lock := filepath.Join(dir, ref+".lock")
		if err := os.WriteFile(lock, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := s.Commit(context.Background(), seatRequest(ref, a.OID, "op-3", put("b.md", "b")))
		if !fault.Is(err, fault.BackendUnavailable) || !strings.Contains(err.Error(), ".lock") {
			t.Errorf("err = %v, want BackendUnavailable naming the lock", err)
		}
		if got := mustResolve(t, s, ref); got != a.OID {
			t.Errorf("ref moved to %s", got)
		}
		refs, err := s.ListRefs(ref)
		if err != nil || len(refs) != 1 {
			t.Errorf("ListRefs = %v, %v: the lock file must not list", refs, err)
		}
		if _, err := os.Stat(lock); err != nil {
			t.Errorf("the other writer's lock was removed: %v", err)
		}
		if err := os.Remove(lock); err != nil {
			t.Fatal(err)
		}
		// The store's own ref moves are visible to git and vice versa.
		res := mustCommit(t, s, seatRequest(ref, a.OID, "op-3", put("b.md", "b")))
		if got := strings.TrimSpace(gitCLI(t, dir, "rev-parse", ref)); got != res.OID {
			t.Errorf("git sees %s, want %s", got, res.OID)
		}
	})
	fsck(t, s, dir)
}

// TestStore_ListPaths_CachedByTree: a large listing read again, or read after a commit, is the
// listing of that commit's tree; appending to a returned listing leaves the kept one alone.
func TestStore_ListPaths_CachedByTree(t *testing.T) {
	s, _, _ := newStore(t)
	var changes []Change
	var want []string
	for i := 0; i < 2*listCacheMin; i++ {
		p := fmt.Sprintf("d/e%04d.md", i)
		changes, want = append(changes, put(p, "body "+p)), append(want, p)
	}
	first := mustCommit(t, s, seatRequest("refs/heads/main", "", "op-1", changes...))
	for i := 0; i < 2; i++ {
		for _, under := range []string{"", "d"} {
			got, err := s.ListPathsUnder(first.OID, under)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("read %d under %q: %d paths, want %d", i, under, len(got), len(want))
			}
			_ = append(got, "scribble")
		}
	}
	second := mustCommit(t, s, seatRequest("refs/heads/main", first.OID, "op-2", put("d/new.md", "new")))
	got, err := s.ListPaths(second.OID)
	if err != nil {
		t.Fatal(err)
	}
	want2 := append(slices.Clone(want), "d/new.md")
	sort.Strings(want2)
	if !slices.Equal(got, want2) {
		t.Errorf("after a commit: %d paths, want %d", len(got), len(want2))
	}
	if again, _ := s.ListPaths(first.OID); !slices.Equal(again, want) {
		t.Errorf("the first commit's listing changed: %d paths", len(again))
	}
}
