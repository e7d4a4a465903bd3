package gitstore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/stasima/stasima/pkg/commitmsg"
	"github.com/stasima/stasima/pkg/fault"
)

// Change is one entry of a commit's change map (C-commit-1).
type Change struct {
	Path   string // full tree path, "practice/x.md"
	Data   []byte // the file's bytes, written as a mode 100644 blob
	Delete bool   // remove Path instead; deleting an absent path is a no-op
}

// CommitRequest describes one commit onto one ref.
type CommitRequest struct {
	Ref string // full ref name
	// Parent is the tip the caller composed against; "" means the ref must not
	// exist yet (create-only). The ref moves only from Parent (C-commit-5).
	Parent string
	// ExtraParents are further parents of a merge commit (parents = [Parent,
	// ExtraParents...]); they do not change the CAS precondition.
	ExtraParents []string
	// Changes are applied in order onto Parent's tree (the empty tree when
	// Parent is "").
	Changes                 []Change
	AuthorName, AuthorEmail string
	Message                 string // written verbatim (C-commit-2 shapes it)
	// OpID is the replay key (C-commit-6): when the ref's current tip carries
	// the trailer op-id: OpID, Commit returns that tip and writes nothing. ""
	// disables the check.
	OpID string
}

// CommitResult is the outcome of Commit.
type CommitResult struct {
	OID      string
	Parents  []string
	Replayed bool // the tip already carried the request's op-id; nothing was written
	// Paths are the request's paths whose entry the commit changed, in the
	// order of their first change. For a replay, the request's paths that the tip
	// changed relative to its first parent.
	Paths []string
}

// Commit writes one commit onto req.Ref and moves the ref to it by
// compare-and-swap. Objects and the ref are durable when it returns (ARCH-13).
//
// Errors: fault.ArgumentError for a malformed request (ref, oid, path, ident,
// a path that crosses a file or names a directory); fault.StaleRef when the
// ref is not at req.Parent (the message names the ref, the expected and the
// actual tip); fault.RefNotFound when a parent is not a commit;
// fault.BackendUnavailable for I/O failures. Writes to one ref are serialized;
// a caller waiting for the ref's lock gives up when ctx ends.
func (s *Store) Commit(ctx context.Context, req CommitRequest) (CommitResult, error) {
	const op = "gitstore.commit"
	if err := checkRefName(op, req.Ref); err != nil {
		return CommitResult{}, err
	}
	if err := checkIdent(req.AuthorName, req.AuthorEmail); err != nil {
		return CommitResult{}, fault.Wrap(op, fault.ArgumentError, err, "author")
	}
	var parent plumbing.Hash
	if req.Parent != "" {
		h, err := parseOID(op, req.Parent)
		if err != nil {
			return CommitResult{}, err
		}
		parent = h
	} else if len(req.ExtraParents) > 0 {
		return CommitResult{}, fault.E(op, fault.ArgumentError, "merge into %q needs a first parent", req.Ref)
	}
	extra := make([]plumbing.Hash, len(req.ExtraParents))
	for i, p := range req.ExtraParents {
		h, err := parseOID(op, p)
		if err != nil {
			return CommitResult{}, err
		}
		extra[i] = h
	}
	changes := make([]change, len(req.Changes))
	for i, c := range req.Changes {
		segs, err := splitPath(op, c.Path)
		if err != nil {
			return CommitResult{}, err
		}
		changes[i] = change{path: c.Path, segs: segs, data: c.Data, del: c.Delete}
	}

	unlock, err := s.lockRef(ctx, req.Ref)
	if err != nil {
		return CommitResult{}, fmt.Errorf("%s %s: %w", op, req.Ref, err)
	}
	defer unlock()

	tip, exists, err := s.st.readRef(req.Ref)
	if err != nil {
		return CommitResult{}, fault.Wrap(op, fault.BackendUnavailable, err, "read ref %q", req.Ref)
	}
	// C-commit-6: the replay check comes before the CAS precondition.
	if exists && req.OpID != "" {
		c, err := s.getCommit(op, tip)
		if err != nil {
			return CommitResult{}, err
		}
		if tipOp, _ := commitmsg.Trailer(c.Message, commitmsg.OpIDKey); tipOp == req.OpID {
			return s.replayed(op, c, changes)
		}
	}
	if exists != (req.Parent != "") || exists && tip != parent {
		return CommitResult{}, staleRef(op, req.Ref, req.Parent, tip, exists)
	}
	if err := ctx.Err(); err != nil {
		return CommitResult{}, fmt.Errorf("%s %s: %w", op, req.Ref, err)
	}

	root := &treeNode{dirty: true} // the empty tree when there is no parent
	if exists {
		pc, err := s.getCommit(op, parent)
		if err != nil {
			return CommitResult{}, err
		}
		root = &treeNode{hash: pc.TreeHash}
	}
	for _, h := range extra {
		if _, err := s.getCommit(op, h); err != nil {
			return CommitResult{}, err
		}
	}
	b := &treeBuilder{s: s, op: op}
	before := make(map[string]treeEntry)
	var paths []string
	for _, c := range changes {
		if _, seen := before[c.path]; !seen {
			e, err := b.lookup(root, c.segs)
			if err != nil {
				return CommitResult{}, err
			}
			before[c.path] = e
			paths = append(paths, c.path)
		}
		if err := b.apply(root, c); err != nil {
			return CommitResult{}, err
		}
	}
	var changed []string
	for _, p := range paths {
		segs, _ := splitPath(op, p)
		e, err := b.lookup(root, segs)
		if err != nil {
			return CommitResult{}, err
		}
		if e != before[p] {
			changed = append(changed, p)
		}
	}

	treeHash, err := b.encode(root, true)
	if err != nil {
		return CommitResult{}, err
	}
	now := s.now()
	parents := append([]plumbing.Hash(nil), extra...)
	if exists {
		parents = append([]plumbing.Hash{parent}, extra...)
	}
	commit := &object.Commit{
		Author:       object.Signature{Name: req.AuthorName, Email: req.AuthorEmail, When: now},
		Committer:    object.Signature{Name: s.cfg.CommitterName, Email: s.cfg.CommitterEmail, When: now},
		Message:      req.Message,
		TreeHash:     treeHash,
		ParentHashes: parents,
	}
	obj := &plumbing.MemoryObject{}
	if err := commit.Encode(obj); err != nil {
		return CommitResult{}, fault.Wrap(op, fault.Internal, err, "encode commit")
	}
	// The group committer writes the objects (one pack per batch) and then
	// moves the ref by compare-and-swap; both are durable when it returns.
	old := plumbing.ZeroHash
	if exists {
		old = parent
	}
	if err := s.apply(&refUpdate{op: op, ref: req.Ref, old: old, new: obj.Hash(), objs: append(b.pending, obj)}); err != nil {
		return CommitResult{}, err
	}
	return CommitResult{OID: obj.Hash().String(), Parents: hexes(parents), Paths: changed}, nil
}

// replayed builds the result of a replay: nothing is written.
func (s *Store) replayed(op string, tip *object.Commit, changes []change) (CommitResult, error) {
	res := CommitResult{OID: tip.Hash.String(), Parents: hexes(tip.ParentHashes), Replayed: true}
	b := &treeBuilder{s: s, op: op}
	now := &treeNode{hash: tip.TreeHash}
	var was *treeNode
	if len(tip.ParentHashes) > 0 {
		pc, err := s.getCommit(op, tip.ParentHashes[0])
		if err != nil {
			return CommitResult{}, err
		}
		was = &treeNode{hash: pc.TreeHash}
	}
	seen := make(map[string]bool)
	for _, c := range changes {
		if seen[c.path] {
			continue
		}
		seen[c.path] = true
		after, err := b.lookup(now, c.segs)
		if err != nil {
			return CommitResult{}, err
		}
		var before treeEntry
		if was != nil {
			if before, err = b.lookup(was, c.segs); err != nil {
				return CommitResult{}, err
			}
		}
		if after != before {
			res.Paths = append(res.Paths, c.path)
		}
	}
	return res, nil
}

type change struct {
	path string
	segs []string
	data []byte
	del  bool
}

// splitPath validates a tree path (C-path-3 at the storage boundary: no empty,
// "." or ".." segment, no leading or trailing "/", no NUL or control character, no
// ".git" segment in any case) and splits it.
func splitPath(op, p string) ([]string, error) {
	segs := strings.Split(p, "/")
	for _, seg := range segs {
		bad := seg == "" || seg == "." || seg == ".." || strings.EqualFold(seg, ".git")
		for _, r := range seg {
			if r < 0x20 || r == 0x7f {
				bad = true
			}
		}
		if bad {
			return nil, fault.E(op, fault.ArgumentError, "path %q is not a valid tree path", p)
		}
	}
	return segs, nil
}

// treeNode is a directory being edited: loaded lazily from hash, dirty once an
// entry below it changed.
type treeNode struct {
	hash    plumbing.Hash // the tree this node was loaded from (zero for a new one)
	entries map[string]*treeNode
	files   map[string]treeEntry // non-directory entries and unloaded directories
	loaded  bool
	dirty   bool
}

// treeEntry is a tree entry's identity: what git compares.
type treeEntry struct {
	mode filemode.FileMode
	hash plumbing.Hash
}

type treeBuilder struct {
	s       *Store
	op      string
	pending []*plumbing.MemoryObject // blobs, then trees bottom-up
	blobs   map[plumbing.Hash]*plumbing.MemoryObject
}

func (b *treeBuilder) load(n *treeNode) error {
	if n.loaded {
		return nil
	}
	n.loaded = true
	n.entries = make(map[string]*treeNode)
	n.files = make(map[string]treeEntry)
	if n.hash.IsZero() {
		return nil
	}
	entries, err := b.s.treeEntries(b.op, n.hash)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n.files[e.Name] = treeEntry{mode: e.Mode, hash: e.Hash}
	}
	return nil
}

// child returns the loaded subdirectory name of n, or nil when n has no
// directory of that name.
func (b *treeBuilder) child(n *treeNode, name string) (*treeNode, error) {
	if err := b.load(n); err != nil {
		return nil, err
	}
	if c, ok := n.entries[name]; ok {
		return c, nil
	}
	e, ok := n.files[name]
	if !ok || e.mode != filemode.Dir {
		return nil, nil
	}
	c := &treeNode{hash: e.hash}
	delete(n.files, name)
	n.entries[name] = c
	return c, nil
}

// lookup returns the entry at segs under n (the zero entry when absent). A
// loaded, edited directory reports a zero hash: callers only compare entries
// of files.
func (b *treeBuilder) lookup(n *treeNode, segs []string) (treeEntry, error) {
	for _, seg := range segs[:len(segs)-1] {
		c, err := b.child(n, seg)
		if err != nil || c == nil {
			return treeEntry{}, err
		}
		n = c
	}
	if err := b.load(n); err != nil {
		return treeEntry{}, err
	}
	last := segs[len(segs)-1]
	if c, ok := n.entries[last]; ok {
		if c.dirty {
			return treeEntry{mode: filemode.Dir}, nil
		}
		return treeEntry{mode: filemode.Dir, hash: c.hash}, nil
	}
	return n.files[last], nil
}

func (b *treeBuilder) apply(root *treeNode, c change) error {
	if c.del {
		_, err := b.remove(root, c.segs)
		return err
	}
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.BlobObject)
	if _, err := obj.Write(c.data); err != nil {
		return fault.Wrap(b.op, fault.Internal, err, "encode blob %q", c.path)
	}
	if b.blobs == nil {
		b.blobs = make(map[plumbing.Hash]*plumbing.MemoryObject)
	}
	b.blobs[obj.Hash()] = obj

	n := root
	n.dirty = true
	for i, seg := range c.segs[:len(c.segs)-1] {
		sub, err := b.child(n, seg)
		if err != nil {
			return err
		}
		if sub == nil {
			if _, isFile := n.files[seg]; isFile {
				return fault.E(b.op, fault.ArgumentError, "path %q crosses file %q", c.path, strings.Join(c.segs[:i+1], "/"))
			}
			sub = &treeNode{loaded: true, entries: map[string]*treeNode{}, files: map[string]treeEntry{}}
			n.entries[seg] = sub
		}
		sub.dirty = true
		n = sub
	}
	if err := b.load(n); err != nil {
		return err
	}
	last := c.segs[len(c.segs)-1]
	if e, isDir := n.files[last]; n.entries[last] != nil || isDir && e.mode == filemode.Dir {
		return fault.E(b.op, fault.ArgumentError, "path %q is a directory", c.path)
	}
	n.files[last] = treeEntry{mode: filemode.Regular, hash: obj.Hash()}
	return nil
}

// remove deletes the file at segs; an absent path, or one that is a directory,
// is a no-op (C-commit-1). It reports whether something was removed.
func (b *treeBuilder) remove(n *treeNode, segs []string) (bool, error) {
	if len(segs) > 1 {
		sub, err := b.child(n, segs[0])
		if err != nil || sub == nil {
			return false, err
		}
		removed, err := b.remove(sub, segs[1:])
		if removed {
			n.dirty = true
		}
		return removed, err
	}
	if err := b.load(n); err != nil {
		return false, err
	}
	if _, ok := n.files[segs[0]]; !ok || n.files[segs[0]].mode == filemode.Dir {
		return false, nil
	}
	delete(n.files, segs[0])
	n.dirty = true
	return true, nil
}

// encode encodes the edited tree: it queues every new blob and dirty tree on
// b.pending (blobs first, trees bottom-up) and returns the root tree's hash. An
// emptied subdirectory is dropped, as git cannot record it.
func (b *treeBuilder) encode(root *treeNode, isRoot bool) (plumbing.Hash, error) {
	h, _, err := b.encodeNode(root, isRoot)
	return h, err
}

func (b *treeBuilder) encodeNode(n *treeNode, isRoot bool) (h plumbing.Hash, empty bool, err error) {
	if !n.dirty {
		return n.hash, false, nil
	}
	entries := make([]object.TreeEntry, 0, len(n.files)+len(n.entries))
	for name, e := range n.files {
		if e.mode == filemode.Regular {
			if o, ok := b.blobs[e.hash]; ok {
				b.pending = append(b.pending, o)
				delete(b.blobs, e.hash) // write each new blob once
			}
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: e.mode, Hash: e.hash})
	}
	for name, c := range n.entries {
		ch, empty, err := b.encodeNode(c, false)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if !empty {
			entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: ch})
		}
	}
	if len(entries) == 0 && !isRoot {
		return plumbing.ZeroHash, true, nil
	}
	sort.Sort(object.TreeEntrySorter(entries))
	obj := &plumbing.MemoryObject{}
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, false, fault.Wrap(b.op, fault.Internal, err, "encode tree")
	}
	b.pending = append(b.pending, obj)
	// The seat's next write reads this tree back: a tree is its hash's content whether or not
	// this commit lands, so caching it now is never wrong.
	b.s.trees.put(obj.Hash(), entries)
	return obj.Hash(), len(entries) == 0, nil
}
