package gitstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/stasima/stasima/pkg/fault"

	"github.com/stasima/stasima/services/capstore/internal/merge"
)

// Merge plumbing for preview, prepare and land (operations.md §2.1). The
// three-way merge itself is the pure engine of package merge; this file
// feeds it the paths that matter and writes its result as a commit.
//
// Only the paths that differ from the merge base on either side are read: a
// path that neither side changed is the base's on both sides, so merge.Merge
// would keep it unchanged, and it cannot take part in a file/directory
// conflict either (of a clashing file f and path f/x, each comes from a side
// that lacks the other, so that side changed both). The engine therefore
// sees mini-trees of the changed paths, and its verdict on them is its
// verdict on the full trees; the candidate's tree is ours' tree with the
// engine's delta applied, so unchanged subtrees are reused as they are.

// MergePreview is the outcome of a three-way merge (O-merge-5..7, -9).
type MergePreview struct {
	// Base is the merge base (MergeBase of ours and theirs).
	Base string
	// Conflicts lists the conflicted paths, sorted by path; empty when clean.
	Conflicts []merge.Conflict
	// Changed is the sorted union of Adds, Removes and Modifies.
	Changed []string
	// Adds, Removes and Modifies are the typed delta, each sorted: when clean,
	// of the merged tree relative to ours; when conflicted, of theirs relative
	// to Base (O-merge-7).
	Adds, Removes, Modifies []string
}

// PreviewMerge merges commit theirsOID (the proposal) into commit oursOID
// (canon) over their merge base and reports the result; it writes nothing
// (O-merge-9). Unrelated histories are refused with fault.MergeConflict
// ("refusing to merge unrelated histories", O-merge-2; 0.1.5 used
// BackendUnavailable, but the refusal is not transient). An unknown oid is
// fault.RefNotFound.
func (s *Store) PreviewMerge(oursOID, theirsOID string) (MergePreview, error) {
	const op = "gitstore.preview_merge"
	ours, theirs, err := parseSides(op, oursOID, theirsOID)
	if err != nil {
		return MergePreview{}, err
	}
	p, _, _, err := s.previewMerge(op, ours, theirs)
	return p, err
}

// CandidateRequest asks for a merge candidate (O-merge-10).
type CandidateRequest struct {
	// Ours is the canon tip and Theirs the proposal tip, as resolved once
	// (O-merge-1); the candidate's parents are [Ours, Theirs].
	Ours, Theirs string
	// Message is written verbatim (C-commit-3 shapes it: "Merge <proposal_ref>
	// into <canon_ref>" and its body).
	Message                 string
	AuthorName, AuthorEmail string
}

// PrepareCandidate merges req.Theirs into req.Ours as PreviewMerge does and
// writes the merge commit (tree: the merged tree; parents: [Ours, Theirs];
// committer: the store's) without moving any ref: the candidate is
// unreferenced, and durable when PrepareCandidate returns, like any object
// the store writes (ARCH-13). It goes into a group-commit pack, and nothing
// is ever pruned (D-19), so a land can move canon to it later with SetRef.
// Preparing the same merge again in the same second yields the same oid.
//
// It refuses before writing anything, returning the preview with the error:
// fault.MergeConflict when the merge conflicts (the message names the
// conflicting paths and git's CONFLICT lines), then fault.CanonAppendOnly
// when the merge would remove paths of ours (INV-3, O-merge-10; the message
// names the removed paths and says "append-only"). A malformed ident is
// fault.ArgumentError; see PreviewMerge for the other errors.
func (s *Store) PrepareCandidate(ctx context.Context, req CandidateRequest) (oid string, preview MergePreview, err error) {
	const op = "gitstore.prepare_candidate"
	if err := checkIdent(req.AuthorName, req.AuthorEmail); err != nil {
		return "", MergePreview{}, fault.Wrap(op, fault.ArgumentError, err, "author")
	}
	ours, theirs, err := parseSides(op, req.Ours, req.Theirs)
	if err != nil {
		return "", MergePreview{}, err
	}
	p, res, oursCommit, err := s.previewMerge(op, ours, theirs)
	if err != nil {
		return "", MergePreview{}, err
	}
	if len(p.Conflicts) > 0 {
		paths := make([]string, 0, len(p.Conflicts))
		details := make([]string, len(p.Conflicts))
		for i, c := range p.Conflicts {
			if len(paths) == 0 || paths[len(paths)-1] != c.Path {
				paths = append(paths, c.Path)
			}
			details[i] = c.Detail
		}
		return "", p, fault.E(op, fault.MergeConflict, "merging %s into %s conflicts in %s: %s",
			req.Theirs, req.Ours, strings.Join(paths, ", "), strings.Join(details, "; "))
	}
	if len(p.Removes) > 0 {
		return "", p, fault.E(op, fault.CanonAppendOnly, "canon is append-only: merging %s into %s would remove %s",
			req.Theirs, req.Ours, strings.Join(p.Removes, ", "))
	}
	if err := ctx.Err(); err != nil {
		return "", p, fmt.Errorf("%s: %w", op, err)
	}

	tree, objs, err := s.mergedTree(op, oursCommit.TreeHash, res)
	if err != nil {
		return "", p, err
	}
	now := s.now()
	commit := &object.Commit{
		Author:       object.Signature{Name: req.AuthorName, Email: req.AuthorEmail, When: now},
		Committer:    object.Signature{Name: s.cfg.CommitterName, Email: s.cfg.CommitterEmail, When: now},
		Message:      req.Message,
		TreeHash:     tree,
		ParentHashes: []plumbing.Hash{ours, theirs},
	}
	obj := &plumbing.MemoryObject{}
	if err := commit.Encode(obj); err != nil {
		return "", p, fault.Wrap(op, fault.Internal, err, "encode commit")
	}
	// An update without a ref: the group committer writes the objects into
	// its next pack, durably, and moves nothing.
	if err := s.apply(&refUpdate{op: op, new: obj.Hash(), objs: append(objs, obj)}); err != nil {
		return "", p, err
	}
	return obj.Hash().String(), p, nil
}

func parseSides(op, oursOID, theirsOID string) (ours, theirs plumbing.Hash, err error) {
	if ours, err = parseOID(op, oursOID); err != nil {
		return plumbing.ZeroHash, plumbing.ZeroHash, err
	}
	if theirs, err = parseOID(op, theirsOID); err != nil {
		return plumbing.ZeroHash, plumbing.ZeroHash, err
	}
	return ours, theirs, nil
}

// sides is one changed path's entry in the base, ours and theirs.
type sides struct {
	base, ours, theirs treeEntry
}

// previewMerge runs the merge: it returns the preview, the engine's result
// (whose Tree holds the merged versions of the changed paths only) and ours'
// commit.
func (s *Store) previewMerge(op string, ours, theirs plumbing.Hash) (MergePreview, merge.Result, *object.Commit, error) {
	fail := func(err error) (MergePreview, merge.Result, *object.Commit, error) {
		return MergePreview{}, merge.Result{}, nil, err
	}
	oc, err := s.getCommit(op, ours)
	if err != nil {
		return fail(err)
	}
	tc, err := s.getCommit(op, theirs)
	if err != nil {
		return fail(err)
	}
	base, ok, err := s.mergeBase(op, ours, theirs)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(fault.E(op, fault.MergeConflict, "refusing to merge unrelated histories: %s and %s have no common ancestor", theirs, ours))
	}
	bc, err := s.getCommit(op, base)
	if err != nil {
		return fail(err)
	}

	d := newTreeDiffer(s, op)
	oursDiff, err := d.diff(bc.TreeHash, oc.TreeHash)
	if err != nil {
		return fail(err)
	}
	theirsDiff, err := d.diff(bc.TreeHash, tc.TreeHash)
	if err != nil {
		return fail(err)
	}
	changed := make(map[string]*sides, len(oursDiff)+len(theirsDiff))
	for _, pd := range oursDiff {
		changed[pd.path] = &sides{base: pd.from, ours: pd.to, theirs: pd.from}
	}
	for _, pd := range theirsDiff {
		if e, ok := changed[pd.path]; ok {
			e.theirs = pd.to
		} else {
			changed[pd.path] = &sides{base: pd.from, ours: pd.from, theirs: pd.to}
		}
	}

	blobs := make(map[plumbing.Hash][]byte)
	read := func(t merge.Tree, path string, e treeEntry) error {
		switch {
		case e.hash.IsZero():
			return nil // absent
		case !e.mode.IsFile():
			return fault.E(op, fault.ArgumentError, "path %q is a %v entry, which the merge does not support", path, e.mode)
		}
		b, ok := blobs[e.hash]
		if !ok {
			var err error
			if b, err = s.getBlob(op, e.hash); err != nil {
				return err
			}
			blobs[e.hash] = b
		}
		t[path] = b
		return nil
	}
	bt, ot, tt := make(merge.Tree), make(merge.Tree), make(merge.Tree)
	for path, e := range changed {
		for _, side := range []struct {
			t merge.Tree
			e treeEntry
		}{{bt, e.base}, {ot, e.ours}, {tt, e.theirs}} {
			if err := read(side.t, path, side.e); err != nil {
				return fail(err)
			}
		}
	}

	res := merge.Merge(bt, ot, tt)
	return MergePreview{
		Base:      base.String(),
		Conflicts: res.Conflicts,
		Changed:   res.Changed,
		Adds:      res.Adds,
		Removes:   res.Removes,
		Modifies:  res.Modifies,
	}, res, oc, nil
}

// mergedTree builds the candidate's tree: ours' tree with a clean result's
// delta applied, removals first so that a path can change between file and
// directory. Merged blobs are mode 100644 (O-merge-4). It returns the tree's
// hash and the new objects (blobs, then trees bottom-up).
func (s *Store) mergedTree(op string, oursTree plumbing.Hash, res merge.Result) (plumbing.Hash, []*plumbing.MemoryObject, error) {
	b := &treeBuilder{s: s, op: op}
	root := &treeNode{hash: oursTree}
	for _, p := range res.Removes {
		segs, err := splitPath(op, p)
		if err != nil {
			return plumbing.ZeroHash, nil, err
		}
		if _, err := b.remove(root, segs); err != nil {
			return plumbing.ZeroHash, nil, err
		}
	}
	puts := slices.Concat(res.Adds, res.Modifies)
	slices.Sort(puts)
	for _, p := range puts {
		segs, err := splitPath(op, p)
		if err != nil {
			return plumbing.ZeroHash, nil, err
		}
		if err := b.dropEmptyDir(root, segs); err != nil {
			return plumbing.ZeroHash, nil, err
		}
		if err := b.apply(root, change{path: p, segs: segs, data: res.Tree[p]}); err != nil {
			return plumbing.ZeroHash, nil, err
		}
	}
	h, err := b.encode(root, true)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	return h, b.pending, nil
}

// dropEmptyDir removes the directory at segs when the removals emptied it,
// so that a file can take its place (apply refuses to overwrite a directory).
func (b *treeBuilder) dropEmptyDir(root *treeNode, segs []string) error {
	n := root
	for _, seg := range segs[:len(segs)-1] {
		c, err := b.child(n, seg)
		if err != nil || c == nil {
			return err
		}
		n = c
	}
	if err := b.load(n); err != nil {
		return err
	}
	last := segs[len(segs)-1]
	c, ok := n.entries[last]
	if !ok {
		return nil
	}
	empty, err := b.empty(c)
	if err != nil || !empty {
		return err
	}
	delete(n.entries, last)
	n.dirty = true
	return nil
}

// empty reports whether the directory n holds no file, at any depth.
func (b *treeBuilder) empty(n *treeNode) (bool, error) {
	if err := b.load(n); err != nil {
		return false, err
	}
	for _, e := range n.files {
		if e.mode != filemode.Dir {
			return false, nil
		}
		if empty, err := b.empty(&treeNode{hash: e.hash}); err != nil || !empty {
			return false, err
		}
	}
	for _, c := range n.entries {
		if empty, err := b.empty(c); err != nil || !empty {
			return false, err
		}
	}
	return true, nil
}
