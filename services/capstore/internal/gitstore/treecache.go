package gitstore

import (
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxCachedTreeEntries bounds the tree cache by the entries it holds (about 5 MB).
const maxCachedTreeEntries = 1 << 16

// treeCache keeps trees' entries by tree hash for path lookups and the tree builder: every
// kip_commit reads its seat's tree and the directory of its path, which the seat's previous
// commit wrote, and decoding a directory of many entries twice per commit was a tenth of the
// commit's CPU. A tree is immutable by its hash, so an entry is never stale; the cache is
// emptied when it would exceed its bound. Slices it hands out are read, never written.
type treeCache struct {
	mu sync.Mutex
	m  map[plumbing.Hash][]object.TreeEntry
	n  int // entries held
}

func (c *treeCache) get(h plumbing.Hash) ([]object.TreeEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	es, ok := c.m[h]
	return es, ok
}

func (c *treeCache) put(h plumbing.Hash, es []object.TreeEntry) {
	if len(es) > maxCachedTreeEntries/4 {
		return // one huge directory would evict everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.n+len(es) > maxCachedTreeEntries {
		c.m, c.n = make(map[plumbing.Hash][]object.TreeEntry), 0
	}
	if _, ok := c.m[h]; !ok {
		c.m[h] = es
		c.n += len(es)
	}
}

// treeEntries returns tree h's entries, from the cache when it holds them.
func (s *Store) treeEntries(op string, h plumbing.Hash) ([]object.TreeEntry, error) {
	if es, ok := s.trees.get(h); ok {
		return es, nil
	}
	t, err := s.getTree(op, h)
	if err != nil {
		return nil, err
	}
	s.trees.put(h, t.Entries)
	return t.Entries, nil
}
