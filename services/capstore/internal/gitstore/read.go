package gitstore

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// CommitInfo describes one commit.
type CommitInfo struct {
	OID                     string
	Parents                 []string
	AuthorName, AuthorEmail string
	Message                 string
	Time                    time.Time // committer time, the clock git orders history by
}

// CommitInfo reads the commit oid. An unknown oid is fault.RefNotFound.
func (s *Store) CommitInfo(oid string) (CommitInfo, error) {
	const op = "gitstore.commit_info"
	h, err := parseOID(op, oid)
	if err != nil {
		return CommitInfo{}, err
	}
	c, err := s.getCommit(op, h)
	if err != nil {
		return CommitInfo{}, err
	}
	return CommitInfo{
		OID:         oid,
		Parents:     hexes(c.ParentHashes),
		AuthorName:  c.Author.Name,
		AuthorEmail: c.Author.Email,
		Message:     c.Message,
		Time:        c.Committer.When,
	}, nil
}

// ReadBlob returns the file at commitOID:path; ok is false when the path is
// absent or is not a file (a directory, a submodule); a symlink reads as its
// target, as git stores it. An unknown commit is
// fault.RefNotFound.
func (s *Store) ReadBlob(commitOID, path string) ([]byte, bool, error) {
	const op = "gitstore.read_blob"
	e, ok, err := s.entryAt(op, commitOID, path)
	if err != nil || !ok {
		return nil, false, err
	}
	b, err := s.getBlob(op, e.hash)
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// BlobOID returns the oid of the file at commitOID:path, with ReadBlob's ok.
func (s *Store) BlobOID(commitOID, path string) (string, bool, error) {
	e, ok, err := s.entryAt("gitstore.blob_oid", commitOID, path)
	if err != nil || !ok {
		return "", false, err
	}
	return e.hash.String(), true, nil
}

// Blob is one path of ReadBlobs: ok is false when the path is absent or not a file.
type Blob struct {
	Path string
	OK   bool
	OID  string
	Data []byte
}

// ReadBlobs reads paths at commitOID as ReadBlob and BlobOID would, in paths order, decoding
// each tree once for the whole call (many paths share their directories: a reindex reads a
// 1,000-entry directory's tree once, not once per entry). It stops before the blobs' bytes
// pass maxBytes, returning at least one path; an unknown commit is fault.RefNotFound.
func (s *Store) ReadBlobs(commitOID string, paths []string, maxBytes int) ([]Blob, error) {
	const op = "gitstore.read_blobs"
	root, err := s.commitTree(op, commitOID)
	if err != nil {
		return nil, err
	}
	// Each tree's entries come from the shared tree cache and are indexed by name once per call.
	trees := map[plumbing.Hash]map[string]treeEntry{}
	child := func(tree plumbing.Hash, name string) (treeEntry, bool, error) {
		m, ok := trees[tree]
		if !ok {
			entries, err := s.treeEntries(op, tree)
			if err != nil {
				return treeEntry{}, false, err
			}
			m = make(map[string]treeEntry, len(entries))
			for _, e := range entries {
				m[e.Name] = treeEntry{mode: e.Mode, hash: e.Hash}
			}
			trees[tree] = m
		}
		e, ok := m[name]
		return e, ok, nil
	}
	out := make([]Blob, 0, len(paths))
	size := 0
	for _, p := range paths {
		if len(out) > 0 && size >= maxBytes {
			break
		}
		b := Blob{Path: p}
		cur, err := walkPath(root, p, child)
		if err != nil {
			return nil, err
		}
		if isFile(cur) {
			data, err := s.getBlob(op, cur.hash)
			if err != nil {
				return nil, err
			}
			if len(out) > 0 && size+len(data) > maxBytes {
				break
			}
			b.OK, b.OID, b.Data = true, cur.hash.String(), data
			size += len(data)
		}
		out = append(out, b)
	}
	return out, nil
}

// commitTree returns the root tree of commitOID; an unknown commit is fault.RefNotFound.
func (s *Store) commitTree(op, commitOID string) (plumbing.Hash, error) {
	h, err := parseOID(op, commitOID)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	c, err := s.getCommit(op, h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return c.TreeHash, nil
}

// isFile reports whether e is a file entry (a blob, a symlink), not a directory or a submodule.
func isFile(e treeEntry) bool { return !e.hash.IsZero() && e.mode.IsFile() }

// entryAt finds the file entry at commit:path.
func (s *Store) entryAt(op, commitOID, path string) (treeEntry, bool, error) {
	root, err := s.commitTree(op, commitOID)
	if err != nil {
		return treeEntry{}, false, err
	}
	e, err := s.pathEntry(op, root, path)
	if err != nil || !isFile(e) {
		return treeEntry{}, false, err
	}
	return e, true, nil
}

// pathEntry returns the entry (file or directory) at path under tree; the zero entry when
// absent.
func (s *Store) pathEntry(op string, tree plumbing.Hash, path string) (treeEntry, error) {
	return walkPath(tree, path, func(dir plumbing.Hash, name string) (treeEntry, bool, error) {
		entries, err := s.treeEntries(op, dir)
		if err != nil {
			return treeEntry{}, false, err
		}
		for _, e := range entries {
			if e.Name == name {
				return treeEntry{mode: e.Mode, hash: e.Hash}, true, nil
			}
		}
		return treeEntry{}, false, nil
	})
}

// walkPath descends from tree along path's "/"-separated names, looking each up with child; the
// zero entry when path is empty, has an empty name, or passes through a non-directory.
func walkPath(tree plumbing.Hash, path string, child func(dir plumbing.Hash, name string) (treeEntry, bool, error)) (treeEntry, error) {
	if path == "" {
		return treeEntry{}, nil
	}
	cur := treeEntry{mode: filemode.Dir, hash: tree}
	for _, seg := range strings.Split(path, "/") {
		if cur.mode != filemode.Dir || seg == "" {
			return treeEntry{}, nil
		}
		e, ok, err := child(cur.hash, seg)
		if err != nil || !ok {
			return treeEntry{}, err
		}
		cur = e
	}
	return cur, nil
}

// ListPaths returns every file path in commitOID's tree, recursively, as exact
// full paths in byte order (C-path-5).
func (s *Store) ListPaths(commitOID string) ([]string, error) {
	return s.ListPathsUnder(commitOID, "")
}

// ListPathsUnder is ListPaths kept to under and the paths below it ("" is every path): it
// descends to under's tree and walks only that subtree.
func (s *Store) ListPathsUnder(commitOID, under string) ([]string, error) {
	const op = "gitstore.list_paths"
	root, err := s.commitTree(op, commitOID)
	if err != nil {
		return nil, err
	}
	var paths []string
	var walk func(tree plumbing.Hash, prefix string) error
	walk = func(tree plumbing.Hash, prefix string) error {
		t, err := s.getTree(op, tree)
		if err != nil {
			return err
		}
		for _, e := range t.Entries {
			switch {
			case e.Mode == filemode.Dir:
				if err := walk(e.Hash, prefix+e.Name+"/"); err != nil {
					return err
				}
			case e.Mode.IsFile():
				paths = append(paths, prefix+e.Name)
			}
		}
		return nil
	}
	prefix := ""
	if under != "" {
		e, err := s.pathEntry(op, root, under)
		switch {
		case err != nil:
			return nil, err
		case e.mode == filemode.Dir:
			root, prefix = e.hash, under+"/"
		case isFile(e):
			return []string{under}, nil
		default:
			return []string{}, nil
		}
	}
	if cached, ok := s.lists.get(root, prefix); ok {
		return cached, nil
	}
	if err := walk(root, prefix); err != nil {
		return nil, err
	}
	// A git tree walk already yields byte order; sorting makes it a guarantee.
	sort.Strings(paths)
	s.lists.put(root, prefix, paths)
	return slices.Clip(paths), nil
}

// listCache keeps the latest large listings by tree: a tree is immutable, so a listing never goes
// stale, and canon_state lists the same canon tree until a land (issue 15: the walk of a
// 100k-entry tree was a third of the answer). The slices are shared: callers only read them.
type listCache struct {
	mu   sync.Mutex
	keys []listKey // oldest first
	vals map[listKey][]string
}

type listKey struct {
	tree   plumbing.Hash
	prefix string
}

const (
	listCacheEntries = 4   // listings kept
	listCacheMin     = 256 // paths below which a walk is cheaper than the memory it would hold
)

func (c *listCache) get(tree plumbing.Hash, prefix string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.vals[listKey{tree, prefix}]
	return v, ok
}

func (c *listCache) put(tree plumbing.Hash, prefix string, paths []string) {
	if len(paths) < listCacheMin {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := listKey{tree, prefix}
	if c.vals == nil {
		c.vals = map[listKey][]string{}
	}
	if _, ok := c.vals[k]; ok {
		return
	}
	if len(c.keys) == listCacheEntries {
		delete(c.vals, c.keys[0])
		c.keys = c.keys[1:]
	}
	c.keys = append(c.keys, k)
	c.vals[k] = slices.Clip(paths)
}
