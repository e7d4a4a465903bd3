package gitstore

import (
	"cmp"
	"slices"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ChangedPaths returns the exact paths (D-15) whose entry differs between the
// trees of commits fromOID and toOID: added, removed, or modified (content or
// mode), sorted in byte order, as `git diff --name-only -z fromOID toOID`
// lists them (no rename detection, D-28). fromOID "" is the empty tree, so
// every path of toOID is listed. Only subtrees whose hashes differ are read.
// A file replaced by a directory lists the file and every path below the
// directory. An unknown oid is fault.RefNotFound.
func (s *Store) ChangedPaths(fromOID, toOID string) ([]string, error) {
	const op = "gitstore.changed_paths"
	var from plumbing.Hash // zero: the empty tree
	if fromOID != "" {
		h, err := parseOID(op, fromOID)
		if err != nil {
			return nil, err
		}
		c, err := s.getCommit(op, h)
		if err != nil {
			return nil, err
		}
		from = c.TreeHash
	}
	h, err := parseOID(op, toOID)
	if err != nil {
		return nil, err
	}
	c, err := s.getCommit(op, h)
	if err != nil {
		return nil, err
	}
	diffs, err := newTreeDiffer(s, op).diff(from, c.TreeHash)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(diffs))
	for i, d := range diffs {
		paths[i] = d.path
	}
	return paths, nil
}

// CanonPositions returns, for each of paths, its canon position (C-pos-3): the
// 1-based position on tipOID's first-parent chain (the root is 1) of the
// newest commit whose diff against its first parent touched the path; the
// root commit touched every path it holds. A path is touched when its entry
// (mode and oid) differs, so a directory path counts the commits that changed
// anything below it, as a pathspec does. It equals the position in `git
// rev-list --first-parent --reverse tipOID` of the first commit of `git log
// --first-parent tipOID -- path`. A path no commit on the chain touched is
// absent from the map.
//
// The chain is walked from the tip and stops once every path is placed; each
// step compares only the subtrees that hold a path still unplaced. An invalid
// path is fault.ArgumentError; an unknown oid is fault.RefNotFound.
func (s *Store) CanonPositions(tipOID string, paths []string) (map[string]int, error) {
	const op = "gitstore.canon_positions"
	tip, err := parseOID(op, tipOID)
	if err != nil {
		return nil, err
	}
	root := &pathTrie{}
	for _, p := range paths {
		segs, err := splitPath(op, p)
		if err != nil {
			return nil, err
		}
		root.add(p, segs)
	}
	chain, err := s.firstParents(op, tip) // tip first
	if err != nil {
		return nil, err
	}
	pos := make(map[string]int, len(paths))
	d := newTreeDiffer(s, op)
	next, err := s.getCommit(op, chain[0])
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(chain) && root.pending > 0; i++ {
		c := next
		var parentTree plumbing.Hash // the root commit: against the empty tree
		if i+1 < len(chain) {
			if next, err = s.getCommit(op, chain[i+1]); err != nil {
				return nil, err
			}
			parentTree = next.TreeHash
		}
		at := len(chain) - i
		d.rotate()
		if _, err := d.touched(parentTree, c.TreeHash, root, func(p string) { pos[p] = at }); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// pathDiff is one path whose entry differs between two trees; a zero entry
// is an absent path. Neither entry is a directory.
type pathDiff struct {
	path     string
	from, to treeEntry
}

// treeDiffer compares trees, reading each tree at most once while it is
// cached. A walk along a chain of commits calls rotate at each step, so that
// only the trees of the last two steps stay cached: a step's old tree is the
// next step's new one.
type treeDiffer struct {
	s     *Store
	op    string
	trees map[plumbing.Hash][]object.TreeEntry
	prev  map[plumbing.Hash][]object.TreeEntry // before the last rotate
}

// rotate forgets the trees not read since the previous rotate.
func (d *treeDiffer) rotate() {
	d.prev, d.trees = d.trees, make(map[plumbing.Hash][]object.TreeEntry, len(d.trees))
}

func newTreeDiffer(s *Store, op string) *treeDiffer {
	return &treeDiffer{s: s, op: op, trees: make(map[plumbing.Hash][]object.TreeEntry)}
}

// entries returns the entries of tree h in git order; the zero hash is the
// empty tree.
func (d *treeDiffer) entries(h plumbing.Hash) ([]object.TreeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	if es, ok := d.trees[h]; ok {
		return es, nil
	}
	if es, ok := d.prev[h]; ok {
		d.trees[h] = es
		return es, nil
	}
	t, err := d.s.getTree(d.op, h)
	if err != nil {
		return nil, err
	}
	d.trees[h] = t.Entries
	return t.Entries, nil
}

// diff lists the non-directory paths whose entries differ between trees a
// and b (zero: empty), in byte order of their full paths.
func (d *treeDiffer) diff(a, b plumbing.Hash) ([]pathDiff, error) {
	var out []pathDiff
	if err := d.diffInto(&out, a, b, ""); err != nil {
		return nil, err
	}
	// A walk in git order yields full paths in byte order (a directory sorts
	// as its name plus '/', exactly where its paths sort); checking is cheap.
	if !slices.IsSortedFunc(out, func(x, y pathDiff) int { return strings.Compare(x.path, y.path) }) {
		slices.SortFunc(out, func(x, y pathDiff) int { return strings.Compare(x.path, y.path) })
	}
	return out, nil
}

// diffInto merge-joins the two entry lists in git order. Entries of the same
// name and kind are compared by mode and oid, and equal directories are
// skipped without being read; a name that is a file on one side and a
// directory on the other sorts as two names, which is how git diff reports it
// (the file removed, the paths below the directory added, or the reverse).
func (d *treeDiffer) diffInto(out *[]pathDiff, a, b plumbing.Hash, prefix string) error {
	if a == b {
		return nil
	}
	ea, err := d.entries(a)
	if err != nil {
		return err
	}
	eb, err := d.entries(b)
	if err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(ea) || j < len(eb) {
		var c int
		switch {
		case i == len(ea):
			c = 1
		case j == len(eb):
			c = -1
		default:
			c = compareGitNames(ea[i].Name, ea[i].Mode == filemode.Dir, eb[j].Name, eb[j].Mode == filemode.Dir)
		}
		switch {
		case c < 0:
			if err := d.side(out, ea[i], prefix, true); err != nil {
				return err
			}
			i++
		case c > 0:
			if err := d.side(out, eb[j], prefix, false); err != nil {
				return err
			}
			j++
		default:
			x, y := ea[i], eb[j]
			i++
			j++
			if x.Mode == y.Mode && x.Hash == y.Hash {
				continue
			}
			if x.Mode == filemode.Dir {
				if err := d.diffInto(out, x.Hash, y.Hash, prefix+x.Name+"/"); err != nil {
					return err
				}
				continue
			}
			*out = append(*out, pathDiff{
				path: prefix + x.Name,
				from: treeEntry{mode: x.Mode, hash: x.Hash},
				to:   treeEntry{mode: y.Mode, hash: y.Hash},
			})
		}
	}
	return nil
}

// side reports an entry present on one side only: a file, or every file
// below a directory. removed tells the side: the entry is in the old tree.
func (d *treeDiffer) side(out *[]pathDiff, e object.TreeEntry, prefix string, removed bool) error {
	if e.Mode != filemode.Dir {
		pd := pathDiff{path: prefix + e.Name}
		if removed {
			pd.from = treeEntry{mode: e.Mode, hash: e.Hash}
		} else {
			pd.to = treeEntry{mode: e.Mode, hash: e.Hash}
		}
		*out = append(*out, pd)
		return nil
	}
	es, err := d.entries(e.Hash)
	if err != nil {
		return err
	}
	for _, sub := range es {
		if err := d.side(out, sub, prefix+e.Name+"/", removed); err != nil {
			return err
		}
	}
	return nil
}

// find returns the entry named name in es (git order), file or directory;
// the zero entry when absent.
func find(es []object.TreeEntry, name string) treeEntry {
	for _, dir := range []bool{false, true} {
		k := sort.Search(len(es), func(i int) bool {
			return compareGitNames(es[i].Name, es[i].Mode == filemode.Dir, name, dir) >= 0
		})
		if k < len(es) && es[k].Name == name && (es[k].Mode == filemode.Dir) == dir {
			return treeEntry{mode: es[k].Mode, hash: es[k].Hash}
		}
	}
	return treeEntry{}
}

// compareGitNames orders tree entry names as git sorts a tree: byte order, a
// directory's name compared as if it ended in '/'.
func compareGitNames(a string, aDir bool, b string, bDir bool) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	return cmp.Compare(nameByte(a, n, aDir), nameByte(b, n, bDir))
}

// nameByte is byte n of name as git compares it: '/' just past a
// directory's name, -1 past the end of a file's.
func nameByte(name string, n int, dir bool) int {
	switch {
	case n < len(name):
		return int(name[n])
	case dir:
		return '/'
	}
	return -1
}

// pathTrie is a set of wanted paths by segment, with the count of wanted
// paths at or below each node that are not found yet.
type pathTrie struct {
	kids    map[string]*pathTrie
	path    string // the full path, when wanted
	want    bool
	pending int
}

func (t *pathTrie) add(path string, segs []string) {
	n := t
	var trail []*pathTrie
	for _, seg := range segs {
		trail = append(trail, n)
		if n.kids == nil {
			n.kids = make(map[string]*pathTrie)
		}
		k, ok := n.kids[seg]
		if !ok {
			k = &pathTrie{}
			n.kids[seg] = k
		}
		n = k
	}
	if n.want {
		return // a duplicate
	}
	n.want, n.path = true, path
	n.pending++
	for _, a := range trail {
		a.pending++
	}
}

// touched finds the pending paths of t whose entries differ between trees a
// and b (zero: empty), calls found for each and marks it found. It descends
// only into subtrees that differ and hold a pending path, and returns how
// many paths it found.
func (d *treeDiffer) touched(a, b plumbing.Hash, t *pathTrie, found func(path string)) (int, error) {
	if a == b || t.pending == 0 {
		return 0, nil
	}
	ea, err := d.entries(a)
	if err != nil {
		return 0, err
	}
	eb, err := d.entries(b)
	if err != nil {
		return 0, err
	}
	n := 0
	for name, k := range t.kids {
		if k.pending == 0 {
			continue
		}
		x, y := find(ea, name), find(eb, name)
		if x == y {
			continue
		}
		if k.want {
			k.want = false
			k.pending--
			found(k.path)
			n++
		}
		if len(k.kids) > 0 {
			var sa, sb plumbing.Hash // a file's subtree is empty
			if x.mode == filemode.Dir {
				sa = x.hash
			}
			if y.mode == filemode.Dir {
				sb = y.hash
			}
			below, err := d.touched(sa, sb, k, found) // updates k.pending
			if err != nil {
				return 0, err
			}
			n += below
		}
	}
	t.pending -= n
	return n, nil
}
