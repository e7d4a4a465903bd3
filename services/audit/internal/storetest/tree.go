package storetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/proof"

	"github.com/stasima/stasima/services/audit/internal/chain"
)

// RunTree is the Merkle tree contract (chain.Tree): every store keeps the tree in step with
// its rows, batch by batch, and its roots and proofs agree with an independent RFC 6962
// computation.
func RunTree(t *testing.T, open func(t *testing.T) Backend) {
	t.Run("grows_with_appends", func(t *testing.T) { testTreeGrows(t, open(t)) })
	t.Run("import_builds_tree", func(t *testing.T) { testTreeImport(t, open(t)) })
	t.Run("changed_row_fails", func(t *testing.T) { testTreeChangedRow(t, open(t)) })
}

// mth is RFC 6962 §2.1's Merkle Tree Hash computed from the definition, the oracle the stored
// tree is checked against.
func mth(leaves [][]byte) []byte {
	switch n := len(leaves); n {
	case 0:
		s := sha256.Sum256(nil)
		return s[:]
	case 1:
		return leaves[0]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		l, r := mth(leaves[:k]), mth(leaves[k:])
		h := sha256.New()
		h.Write([]byte{1})
		h.Write(l)
		h.Write(r)
		return h.Sum(nil)
	}
}

func leavesOf(t *testing.T, s chain.Store) [][]byte {
	t.Helper()
	var out [][]byte
	for _, e := range all(t, s) {
		l := sha256.Sum256(append([]byte{0}, e.Hash...))
		out = append(out, l[:])
	}
	return out
}

// WantTree fails t unless s's tree covers all n rows and its root is the RFC 6962 root of the
// rows' leaf hashes.
func WantTree(t *testing.T, s chain.Store, n int) {
	t.Helper()
	size, err := s.TreeSize(ctx(t))
	if err != nil || size != uint64(n) {
		t.Fatalf("tree size = %d, %v; want %d", size, err, n)
	}
	leaves := leavesOf(t, s)
	root, err := chain.RootAt(ctx(t), s, size)
	if err != nil {
		t.Fatal(err)
	}
	if want := mth(leaves); !bytes.Equal(root, want) {
		t.Fatalf("root at %d = %x, want %x", size, root, want)
	}
}

func testTreeGrows(t *testing.T, b Backend) {
	s := b.Store
	WantTree(t, s, 0)
	var roots [][]byte
	n := 0
	for batch := 1; n < 21; batch++ {
		var in []chain.Intent
		for range batch {
			n++
			in = append(in, intent(fmt.Sprintf("t%d", n), "seat-1", "kip_commit"))
		}
		mustAppend(t, s, in...)
		WantTree(t, s, n)
	}
	leaves := leavesOf(t, s)
	for size := 0; size <= n; size++ {
		roots = append(roots, mth(leaves[:size]))
	}
	for size := uint64(1); size <= uint64(n); size++ {
		for i := uint64(0); i < size; i++ {
			p, err := chain.InclusionProof(ctx(t), s, i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(chain.Hasher, i, size, leaves[i], p, roots[size]); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, size, err)
			}
		}
		for from := uint64(1); from <= size; from++ {
			p, err := chain.ConsistencyProof(ctx(t), s, from, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(chain.Hasher, from, size, p, roots[from], roots[size]); err != nil {
				t.Fatalf("consistency %d→%d: %v", from, size, err)
			}
		}
	}
	// A duplicate intent appends nothing, so the tree does not grow.
	mustAppend(t, s, intent("t1", "seat-1", "kip_commit"))
	WantTree(t, s, n)
	if _, err := chain.RootAt(ctx(t), s, uint64(n)+1); err == nil {
		t.Error("a root beyond the tree succeeded")
	}
}

func testTreeImport(t *testing.T, b Backend) {
	rows := LoadVectors(t).Events()
	if err := b.Store.Import(ctx(t), rows); err != nil {
		t.Fatal(err)
	}
	WantTree(t, b.Store, len(rows))
	mustAppend(t, b.Store, intent("after-import", "seat-1", "kip_commit"))
	WantTree(t, b.Store, len(rows)+1)
}

// A row whose hash changed after its inclusion proof was made no longer verifies.
func testTreeChangedRow(t *testing.T, b Backend) {
	s := b.Store
	seed(t, s, 9)
	size := uint64(9)
	root, err := chain.RootAt(ctx(t), s, size)
	if err != nil {
		t.Fatal(err)
	}
	rows := all(t, s)
	for i := range rows {
		p, err := chain.InclusionProof(ctx(t), s, uint64(i), size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(chain.Hasher, uint64(i), size, chain.LeafHash(rows[i].Hash), p, root); err != nil {
			t.Fatalf("row %d: %v", rows[i].Seq, err)
		}
		changed := rows[i]
		changed.Actor = chain.Str("mallory")
		h, err := chain.Hash(changed.PrevHash, &changed)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(chain.Hasher, uint64(i), size, chain.LeafHash(h), p, root); err == nil {
			t.Fatalf("changed row %d verified", rows[i].Seq)
		}
	}
}
