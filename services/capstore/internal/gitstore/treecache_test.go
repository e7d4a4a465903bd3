package gitstore

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TestTreeCache_Bounded: the cache holds at most maxCachedTreeEntries entries, empties itself
// rather than grow past them, and never keeps a directory larger than a quarter of the bound.
func TestTreeCache_Bounded(t *testing.T) {
	var c treeCache
	h := func(i int) plumbing.Hash {
		return plumbing.ComputeHash(plumbing.TreeObject, []byte{byte(i), byte(i >> 8)})
	}
	quarter := make([]object.TreeEntry, maxCachedTreeEntries/4)
	for i := 0; i < 4; i++ {
		c.put(h(i), quarter)
	}
	if _, ok := c.get(h(0)); !ok || c.n != maxCachedTreeEntries {
		t.Fatalf("four quarters: held %d entries, first present %v", c.n, ok)
	}
	c.put(h(4), []object.TreeEntry{{Name: "x"}})
	if _, ok := c.get(h(0)); ok || c.n != 1 {
		t.Fatalf("past the bound: held %d entries, first still present %v", c.n, ok)
	}
	c.put(h(5), make([]object.TreeEntry, maxCachedTreeEntries/4+1))
	if _, ok := c.get(h(5)); ok {
		t.Fatal("a directory over a quarter of the bound was cached")
	}
	if es, ok := c.get(h(4)); !ok || es[0].Name != "x" {
		t.Fatalf("get = %v, %v", es, ok)
	}
}
