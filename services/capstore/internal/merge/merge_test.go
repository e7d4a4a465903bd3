package merge

import (
	"reflect"
	"slices"
	"testing"
)

// tree builds a Tree from path, content pairs.
func tree(kv ...string) Tree {
	t := Tree{}
	for i := 0; i < len(kv); i += 2 {
		t[kv[i]] = []byte(kv[i+1])
	}
	return t
}

// want is the expected Result, with Tree nil when conflicted (not compared).
type want struct {
	tree                    Tree
	conflicts               []Conflict
	adds, removes, modifies []string
}

func conflict(path, kind string) Conflict {
	c := Conflict{Path: path, Kind: kind}
	c.Detail = c.Line("ours", "theirs")
	return c
}

func TestMerge(t *testing.T) {
	const (
		abc    = "a\nb\nc\n"
		five   = "1\n2\n3\n4\n5\n"
		binary = "\x00\x01bin\n"
	)
	tests := []struct {
		name               string
		base, ours, theirs Tree
		want               want
	}{
		{
			name:   "untouched trees merge to ours", // O-merge-3
			base:   tree("a", abc, "m/x", "x\n"),
			ours:   tree("a", abc, "m/x", "x\n"),
			theirs: tree("a", abc, "m/x", "x\n"),
			want:   want{tree: tree("a", abc, "m/x", "x\n")},
		},
		{
			name:   "disjoint changes merge", // O-merge-3
			base:   tree("a", "a\n", "b", "b\n", "c", "c\n"),
			ours:   tree("a", "A\n", "b", "b\n", "c", "c\n", "o/new", "o\n"),
			theirs: tree("a", "a\n", "b", "B\n", "c", "c\n", "t/new", "t\n"),
			want: want{
				tree: tree("a", "A\n", "b", "B\n", "c", "c\n", "o/new", "o\n", "t/new", "t\n"),
				adds: []string{"t/new"}, modifies: []string{"b"},
			},
		},
		{
			name:   "same-file non-overlapping edits merge at line level", // O-merge-4
			base:   tree("f", five),
			ours:   tree("f", "ONE\n2\n3\n4\n5\n"),
			theirs: tree("f", "1\n2\n3\n4\nFIVE\n"),
			want:   want{tree: tree("f", "ONE\n2\n3\n4\nFIVE\n"), modifies: []string{"f"}},
		},
		{
			name:   "overlapping edits conflict by path", // O-merge-4, O-merge-6
			base:   tree("f", five, "g", "g\n"),
			ours:   tree("f", "1\n2\nOURS\n4\n5\n", "g", "g\n"),
			theirs: tree("f", "1\n2\nTHEIRS\n4\n5\n", "g", "G\n"),
			want: want{
				conflicts: []Conflict{conflict("f", KindContent)},
				modifies:  []string{"f", "g"}, // theirs since base (O-merge-7)
			},
		},
		{
			name:   "adjacent edits conflict", // O-merge-4: touching hunks do not combine
			base:   tree("f", five),
			ours:   tree("f", "1\n2\nOURS\n4\n5\n"),
			theirs: tree("f", "1\n2\n3\nTHEIRS\n5\n"),
			want:   want{conflicts: []Conflict{conflict("f", KindContent)}, modifies: []string{"f"}},
		},
		{
			name:   "edits one line apart merge", // O-merge-4
			base:   tree("f", five),
			ours:   tree("f", "1\nOURS\n3\n4\n5\n"),
			theirs: tree("f", "1\n2\n3\nTHEIRS\n5\n"),
			want:   want{tree: tree("f", "1\nOURS\n3\nTHEIRS\n5\n"), modifies: []string{"f"}},
		},
		{
			name:   "identical change on both sides", // O-merge-3
			base:   tree("f", abc),
			ours:   tree("f", "a\nB\nc\n"),
			theirs: tree("f", "a\nB\nc\n"),
			want:   want{tree: tree("f", "a\nB\nc\n")},
		},
		{
			name:   "identical hunk inside otherwise different edits", // O-merge-4
			base:   tree("f", five),
			ours:   tree("f", "ONE\n2\nTHREE\n4\n5\n"),
			theirs: tree("f", "1\n2\nTHREE\n4\nFIVE\n"),
			want:   want{tree: tree("f", "ONE\n2\nTHREE\n4\nFIVE\n"), modifies: []string{"f"}},
		},
		{
			name:   "add/add same content", // O-merge-3
			base:   tree(),
			ours:   tree("n", "new\n"),
			theirs: tree("n", "new\n"),
			want:   want{tree: tree("n", "new\n")},
		},
		{
			name:   "add/add different content conflicts", // O-merge-3: merged against an empty base
			base:   tree(),
			ours:   tree("n", "same\nours\n"),
			theirs: tree("n", "same\ntheirs\n"),
			want:   want{conflicts: []Conflict{conflict("n", KindAddAdd)}, adds: []string{"n"}},
		},
		{
			name:   "add/add against an added empty file takes the content", // git merge-tree does the same
			base:   tree(),
			ours:   tree("n", ""),
			theirs: tree("n", "content\n"),
			want:   want{tree: tree("n", "content\n"), modifies: []string{"n"}},
		},
		{
			name:   "modify/delete conflicts", // O-merge-3
			base:   tree("f", abc),
			ours:   tree("f", "a\nB\nc\n"),
			theirs: tree(),
			want:   want{conflicts: []Conflict{conflict("f", KindModifyDelete)}, removes: []string{"f"}},
		},
		{
			name:   "delete/modify conflicts", // O-merge-3
			base:   tree("f", abc),
			ours:   tree(),
			theirs: tree("f", "a\nB\nc\n"),
			want:   want{conflicts: []Conflict{conflict("f", KindDeleteModify)}, modifies: []string{"f"}},
		},
		{
			name:   "deletion on theirs is a removal", // O-merge-3, O-merge-7, INV-3
			base:   tree("f", abc, "g", "g\n"),
			ours:   tree("f", abc, "g", "g\n"),
			theirs: tree("g", "g\n"),
			want:   want{tree: tree("g", "g\n"), removes: []string{"f"}},
		},
		{
			name:   "deletion on ours stays deleted", // O-merge-3
			base:   tree("f", abc, "g", "g\n"),
			ours:   tree("g", "g\n"),
			theirs: tree("f", abc, "g", "g\n"),
			want:   want{tree: tree("g", "g\n")},
		},
		{
			name:   "deleted on both sides", // O-merge-3
			base:   tree("f", abc),
			ours:   tree(),
			theirs: tree(),
			want:   want{tree: tree()},
		},
		{
			name:   "rename is a removal and an addition", // D-28
			base:   tree("old", abc),
			ours:   tree("old", abc),
			theirs: tree("new", abc),
			want:   want{tree: tree("new", abc), adds: []string{"new"}, removes: []string{"old"}},
		},
		{
			name:   "rename of a path the other side edited conflicts", // D-28
			base:   tree("old", abc),
			ours:   tree("old", "a\nB\nc\n"),
			theirs: tree("new", abc),
			want: want{
				conflicts: []Conflict{conflict("old", KindModifyDelete)},
				adds:      []string{"new"}, removes: []string{"old"},
			},
		},
		{
			name:   "binary changed on both sides conflicts", // O-merge-4
			base:   tree("b", binary),
			ours:   tree("b", binary+"o"),
			theirs: tree("b", binary+"t"),
			want:   want{conflicts: []Conflict{conflict("b", KindContent)}, modifies: []string{"b"}},
		},
		{
			name:   "text turned binary on one side conflicts when both changed",
			base:   tree("b", abc),
			ours:   tree("b", "a\nb\nc\nd\n"),
			theirs: tree("b", "\x00a\nb\nc\n"),
			want:   want{conflicts: []Conflict{conflict("b", KindContent)}, modifies: []string{"b"}},
		},
		{
			name:   "invalid UTF-8 is binary", // package rule
			base:   tree("b", "x\n\xff\ny\n"),
			ours:   tree("b", "X\n\xff\ny\n"),
			theirs: tree("b", "x\n\xff\nY\n"),
			want:   want{conflicts: []Conflict{conflict("b", KindContent)}, modifies: []string{"b"}},
		},
		{
			name:   "binary add/add conflicts",
			base:   tree(),
			ours:   tree("b", binary),
			theirs: tree("b", binary+"t"),
			want:   want{conflicts: []Conflict{conflict("b", KindAddAdd)}, adds: []string{"b"}},
		},
		{
			name:   "binary changed on one side merges",
			base:   tree("b", binary),
			ours:   tree("b", binary),
			theirs: tree("b", binary+"t"),
			want:   want{tree: tree("b", binary+"t"), modifies: []string{"b"}},
		},
		{
			name:   "CRLF lines merge and keep their endings",
			base:   tree("f", "1\r\n2\r\n3\r\n4\r\n5\r\n"),
			ours:   tree("f", "ONE\r\n2\r\n3\r\n4\r\n5\r\n"),
			theirs: tree("f", "1\r\n2\r\n3\r\n4\r\nFIVE\r\n"),
			want:   want{tree: tree("f", "ONE\r\n2\r\n3\r\n4\r\nFIVE\r\n"), modifies: []string{"f"}},
		},
		{
			name:   "missing final newline is preserved",
			base:   tree("f", "1\n2\n3\n4\n5"),
			ours:   tree("f", "ONE\n2\n3\n4\n5"),
			theirs: tree("f", "1\n2\n3\n4\nFIVE"),
			want:   want{tree: tree("f", "ONE\n2\n3\n4\nFIVE"), modifies: []string{"f"}},
		},
		{
			name:   "adding a final newline is a change of the last line",
			base:   tree("f", "1\n2\n3\n4\n5"),
			ours:   tree("f", "ONE\n2\n3\n4\n5"),
			theirs: tree("f", "1\n2\n3\n4\n5\n"),
			want:   want{tree: tree("f", "ONE\n2\n3\n4\n5\n"), modifies: []string{"f"}},
		},
		{
			name:   "empty file edited on one side",
			base:   tree("e", ""),
			ours:   tree("e", ""),
			theirs: tree("e", "now\n"),
			want:   want{tree: tree("e", "now\n"), modifies: []string{"e"}},
		},
		{
			name:   "empty file filled differently on both sides conflicts",
			base:   tree("e", ""),
			ours:   tree("e", "ours\n"),
			theirs: tree("e", "theirs\n"),
			want:   want{conflicts: []Conflict{conflict("e", KindContent)}, modifies: []string{"e"}},
		},
		{
			name:   "file emptied on one side, edited elsewhere",
			base:   tree("e", "x\n", "f", "f\n"),
			ours:   tree("e", "x\n", "f", "F\n"),
			theirs: tree("e", "", "f", "f\n"),
			want:   want{tree: tree("e", "", "f", "F\n"), modifies: []string{"e"}},
		},
		{
			name:   "file on ours, directory on theirs", // O-merge-3
			base:   tree(),
			ours:   tree("d", "file\n"),
			theirs: tree("d/x", "x\n"),
			want: want{
				conflicts: []Conflict{{Path: "d", Kind: KindFileDirectory, Side: "ours",
					Detail: "CONFLICT (file/directory): directory in the way of d from ours; moving it to d~ours instead."}},
				adds: []string{"d/x"},
			},
		},
		{
			name:   "directory on ours, file on theirs", // O-merge-3
			base:   tree(),
			ours:   tree("d/x/y", "y\n"),
			theirs: tree("d/x", "x\n"),
			want: want{
				conflicts: []Conflict{{Path: "d/x", Kind: KindFileDirectory, Side: "theirs",
					Detail: "CONFLICT (file/directory): directory in the way of d/x from theirs; moving it to d/x~theirs instead."}},
				adds: []string{"d/x"},
			},
		},
		{
			name:   "kept modify/delete path under a file conflicts twice", // git leaves the modified version in place
			base:   tree("d/y", "y\n"),
			ours:   tree("d", "file\n"),
			theirs: tree("d/y", "Y\n"),
			want: want{
				conflicts: []Conflict{
					{Path: "d", Kind: KindFileDirectory, Side: "ours",
						Detail: "CONFLICT (file/directory): directory in the way of d from ours; moving it to d~ours instead."},
					conflict("d/y", KindDeleteModify),
				},
				modifies: []string{"d/y"},
			},
		},
		{
			name:   "file replaced by a directory on one side merges",
			base:   tree("d", "file\n", "k", "k\n"),
			ours:   tree("d", "file\n", "k", "K\n"),
			theirs: tree("d/x", "x\n", "k", "k\n"),
			want:   want{tree: tree("d/x", "x\n", "k", "K\n"), adds: []string{"d/x"}, removes: []string{"d"}},
		},
		{
			name:   "conflicts are sorted by path",
			base:   tree("z", "z\n", "a", "a\n", "m", "m\n"),
			ours:   tree("z", "Z1\n", "a", "A1\n"),
			theirs: tree("z", "Z2\n", "a", "A2\n", "m", "M\n"),
			want: want{
				conflicts: []Conflict{conflict("a", KindContent), conflict("m", KindDeleteModify), conflict("z", KindContent)},
				modifies:  []string{"a", "m", "z"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Merge(tt.base, tt.ours, tt.theirs)
			if !reflect.DeepEqual(orNil(got.Conflicts), orNil(tt.want.conflicts)) {
				t.Errorf("Conflicts = %+v, want %+v", got.Conflicts, tt.want.conflicts)
			}
			if tt.want.tree != nil && !reflect.DeepEqual(got.Tree, tt.want.tree) {
				t.Errorf("Tree = %q, want %q", got.Tree, tt.want.tree)
			}
			checkDelta(t, got, tt.want.adds, tt.want.removes, tt.want.modifies)
		})
	}
}

func orNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func checkDelta(t *testing.T, got Result, adds, removes, modifies []string) {
	t.Helper()
	for _, d := range []struct {
		name      string
		got, want []string
	}{
		{"Adds", got.Adds, adds},
		{"Removes", got.Removes, removes},
		{"Modifies", got.Modifies, modifies},
		{"Changed", got.Changed, union(adds, removes, modifies)},
	} {
		if !reflect.DeepEqual(orNil(d.got), orNil(d.want)) {
			t.Errorf("%s = %q, want %q", d.name, d.got, d.want)
		}
	}
}

func union(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return out
}

// TestMerge_inputsUntouched checks that Merge does not modify its inputs.
func TestMerge_inputsUntouched(t *testing.T) {
	base := tree("f", "1\n2\n3\n4\n5\n", "d", "d\n")
	ours := tree("f", "ONE\n2\n3\n4\n5\n", "d", "d\n")
	theirs := tree("f", "1\n2\n3\n4\nFIVE\n")
	snapshot := func(ts ...Tree) []Tree {
		var out []Tree
		for _, tr := range ts {
			c := Tree{}
			for k, v := range tr {
				c[k] = append([]byte(nil), v...)
			}
			out = append(out, c)
		}
		return out
	}
	before := snapshot(base, ours, theirs)
	r := Merge(base, ours, theirs)
	if len(r.Conflicts) != 0 {
		t.Fatalf("unexpected conflicts %v", r.Conflicts)
	}
	r.Tree["new"] = []byte("x")
	if after := snapshot(base, ours, theirs); !reflect.DeepEqual(before, after) {
		t.Fatalf("inputs changed: %q, want %q", after, before)
	}
}

func TestConflict_Line(t *testing.T) {
	tests := []struct {
		give Conflict
		want string
	}{
		{Conflict{Path: "p", Kind: KindContent}, "CONFLICT (content): Merge conflict in p"},
		{Conflict{Path: "p", Kind: KindAddAdd}, "CONFLICT (add/add): Merge conflict in p"},
		{Conflict{Path: "p", Kind: KindModifyDelete}, "CONFLICT (modify/delete): p deleted in proposal and modified in canon.  Version canon of p left in tree."},
		{Conflict{Path: "p", Kind: KindDeleteModify}, "CONFLICT (modify/delete): p deleted in canon and modified in proposal.  Version proposal of p left in tree."},
		{Conflict{Path: "p", Kind: KindFileDirectory, Side: "theirs"}, "CONFLICT (file/directory): directory in the way of p from proposal; moving it to p~proposal instead."},
	}
	for _, tt := range tests {
		t.Run(tt.give.Kind, func(t *testing.T) {
			if got := tt.give.Line("canon", "proposal"); got != tt.want {
				t.Errorf("Line = %q, want %q", got, tt.want)
			}
		})
	}
}
