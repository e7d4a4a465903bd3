package merge

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// A Tree maps every file path (full path, '/' separators) to its content;
// mode is always 100644. Merge never modifies a Tree it is given, and the
// Tree it returns shares content slices with its inputs: treat contents as
// read-only.
type Tree map[string][]byte

// Conflict kinds, as git names them in its CONFLICT lines.
const (
	KindContent       = "content"        // modified (or binary) on both sides, line merge conflicts
	KindAddAdd        = "add/add"        // added on both sides with different content
	KindModifyDelete  = "modify/delete"  // ours modified, theirs deleted
	KindDeleteModify  = "delete/modify"  // ours deleted, theirs modified
	KindFileDirectory = "file/directory" // a file on one side, a directory on the other
)

// Conflict is one conflicted path.
type Conflict struct {
	Path string
	// Kind is one of the Kind constants.
	Kind string
	// Detail is the CONFLICT line git merge-tree prints for the path, with
	// the sides named "ours" and "theirs" (O-merge-6); Line renames them.
	Detail string
	// Side names the side that holds the file of a file/directory conflict:
	// "ours" or "theirs"; empty for the other kinds.
	Side string
}

// Line renders c's CONFLICT line as git merge-tree phrases it, with the sides
// named ours and theirs (for example the canon and proposal ref names).
func (c Conflict) Line(ours, theirs string) string {
	switch c.Kind {
	case KindContent, KindAddAdd:
		return fmt.Sprintf("CONFLICT (%s): Merge conflict in %s", c.Kind, c.Path)
	case KindModifyDelete:
		return fmt.Sprintf("CONFLICT (modify/delete): %s deleted in %s and modified in %s.  Version %s of %s left in tree.",
			c.Path, theirs, ours, ours, c.Path)
	case KindDeleteModify:
		return fmt.Sprintf("CONFLICT (modify/delete): %s deleted in %s and modified in %s.  Version %s of %s left in tree.",
			c.Path, ours, theirs, theirs, c.Path)
	case KindFileDirectory:
		side := ours
		if c.Side == "theirs" {
			side = theirs
		}
		return fmt.Sprintf("CONFLICT (file/directory): directory in the way of %s from %s; moving it to %s~%s instead.",
			c.Path, side, c.Path, side)
	}
	return fmt.Sprintf("CONFLICT (%s): %s", c.Kind, c.Path)
}

// Result is the outcome of a Merge.
type Result struct {
	// Tree is the merged tree; only meaningful when Conflicts is empty.
	Tree Tree
	// Conflicts lists the conflicted paths, sorted by path (byte order) and
	// kind; a path has two entries when it is both the modified side of a
	// modify/delete and the file of a file/directory conflict.
	Conflicts []Conflict
	// Changed is the sorted union of Adds, Removes and Modifies: when clean,
	// the paths whose content in Tree differs from ours (the canon side).
	Changed []string
	// Adds, Removes and Modifies are the typed delta, each sorted (O-merge-7):
	// when clean, of Tree relative to ours; when conflicted, of theirs
	// relative to base (tools.md delta_basis "proposal-since-base").
	Adds, Removes, Modifies []string
}

// Merge merges theirs into ours with base as the common ancestor; see the
// package documentation for the rules. It runs in time linear in the number
// of paths plus the size of the files both sides changed: a path that did
// not change costs one or two bytes.Equal calls.
func Merge(base, ours, theirs Tree) Result {
	m := merger{
		base: base, ours: ours, theirs: theirs,
		tree: make(Tree, len(ours)+len(theirs)/16),
	}
	for p, o := range ours {
		m.path(p, o, true)
	}
	if m.shared < len(theirs) {
		for p, t := range theirs {
			if _, ok := ours[p]; !ok {
				m.path(p, t, false)
			}
		}
	}
	// Paths only in base were deleted on both sides: nothing to merge, and
	// nothing in the delta against ours.
	m.fileDirectory()

	r := Result{Tree: m.tree, Conflicts: m.conflicts}
	slices.SortFunc(r.Conflicts, compareConflicts)
	if len(r.Conflicts) == 0 {
		r.Adds, r.Removes, r.Modifies = m.adds, m.removes, m.modifies
	} else {
		r.Adds, r.Removes, r.Modifies = delta(base, theirs)
	}
	slices.Sort(r.Adds)
	slices.Sort(r.Removes)
	slices.Sort(r.Modifies)
	r.Changed = make([]string, 0, len(r.Adds)+len(r.Removes)+len(r.Modifies))
	r.Changed = append(append(append(r.Changed, r.Adds...), r.Removes...), r.Modifies...)
	slices.Sort(r.Changed)
	return r
}

// merger accumulates one Merge.
type merger struct {
	base, ours, theirs      Tree
	tree                    Tree
	conflicts               []Conflict
	adds, removes, modifies []string // of tree against ours
	oursAdds                []string // merged paths only ours added (absent from base and theirs)
	kept                    []string // modify/delete paths: git leaves the modified version in place
	shared                  int      // paths of ours also in theirs
}

// version is one side's state of a path: absent, or present with content.
type version struct {
	data    []byte
	present bool
}

func (v version) equal(w version) bool {
	return v.present == w.present && (!v.present || bytes.Equal(v.data, w.data))
}

// path merges one path. first is the content on the ours side if inOurs,
// else on theirs (then absent from ours); each path is visited once.
func (m *merger) path(p string, first []byte, inOurs bool) {
	var o, t version
	if inOurs {
		o = version{first, true}
		t.data, t.present = m.theirs[p]
		if t.present {
			m.shared++
		}
	} else {
		t = version{first, true}
	}
	if o.equal(t) { // the common case: an untouched path
		m.take(p, o, o)
		return
	}
	var b version
	b.data, b.present = m.base[p]
	switch {
	case b.equal(o):
		m.take(p, o, t)
	case b.equal(t):
		if !b.present {
			m.oursAdds = append(m.oursAdds, p)
		}
		m.take(p, o, o)
	case !o.present:
		m.conflict(p, KindDeleteModify)
		m.kept = append(m.kept, p)
	case !t.present:
		m.conflict(p, KindModifyDelete)
		m.kept = append(m.kept, p)
	default:
		kind := KindContent
		if !b.present {
			kind = KindAddAdd
		}
		if binary(b.data) || binary(o.data) || binary(t.data) {
			m.conflict(p, kind)
			return
		}
		merged, conflict := Lines(b.data, o.data, t.data)
		if conflict {
			m.conflict(p, kind)
			return
		}
		m.take(p, o, version{merged, true})
	}
}

// take puts v into the merged tree at p and records how it differs from o,
// ours' version.
func (m *merger) take(p string, o, v version) {
	if v.present {
		m.tree[p] = v.data
	}
	switch {
	case o.equal(v):
	case !o.present:
		m.adds = append(m.adds, p)
	case !v.present:
		m.removes = append(m.removes, p)
	default:
		m.modifies = append(m.modifies, p)
	}
}

// compareConflicts orders by path, then kind: a modify/delete path can also
// be the file of a file/directory conflict.
func compareConflicts(a, b Conflict) int {
	if c := strings.Compare(a.Path, b.Path); c != 0 {
		return c
	}
	return strings.Compare(a.Kind, b.Kind)
}

func (m *merger) conflict(p, kind string) {
	c := Conflict{Path: p, Kind: kind}
	c.Detail = c.Line("ours", "theirs")
	m.conflicts = append(m.conflicts, c)
}

// fileDirectory reports merged files that sit where the merged tree also
// has a directory. As in git, the modified version of a modify/delete path
// stays in the tree and takes part. Two paths of the same input cannot clash
// (each input is a valid tree), so of a clashing file f and path f/x one
// came from each side, and f/x is a path the merge added relative to ours, a
// path only ours added (then f came from theirs, which cannot also hold f/x,
// and without touching f/x ours could not have added it), or a kept
// modify/delete path. Only those paths' parent directories are looked up.
func (m *merger) fileDirectory() {
	if len(m.adds) == 0 && len(m.kept) == 0 {
		// Every clash involves a path the merge added relative to ours (f
		// or f/x), or a kept one.
		return
	}
	occupied := func(p string) bool {
		if _, ok := m.tree[p]; ok {
			return true
		}
		return slices.Contains(m.kept, p)
	}
	seen := map[string]bool{}
	check := func(p string) {
		for i := len(p) - 1; i > 0; i-- {
			if p[i] != '/' {
				continue
			}
			dir := p[:i]
			if !seen[dir] && occupied(dir) {
				seen[dir] = true
				side := "theirs"
				if _, inOurs := m.ours[dir]; inOurs {
					side = "ours"
				}
				c := Conflict{Path: dir, Kind: KindFileDirectory, Side: side}
				c.Detail = c.Line("ours", "theirs")
				m.conflicts = append(m.conflicts, c)
			}
		}
	}
	for _, paths := range [][]string{m.adds, m.oursAdds, m.kept} {
		for _, p := range paths {
			check(p)
		}
	}
}

// delta is the typed delta of to relative to from.
func delta(from, to Tree) (adds, removes, modifies []string) {
	for p, t := range to {
		f, ok := from[p]
		switch {
		case !ok:
			adds = append(adds, p)
		case !bytes.Equal(f, t):
			modifies = append(modifies, p)
		}
	}
	for p := range from {
		if _, ok := to[p]; !ok {
			removes = append(removes, p)
		}
	}
	return adds, removes, modifies
}

// binary reports whether b is not text: it contains NUL or is not UTF-8.
func binary(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b)
}
