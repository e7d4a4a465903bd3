package chain

import (
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/stasima/stasima/pkg/tlog"
)

// Tree is the Merkle tree a store keeps over its rows (RFC 6962 hashing): leaf i is the row
// with seq i+1, its leaf hash is LeafHash of that row's chain hash, and every complete subtree
// node is stored as it completes, by the one writer in the transaction that appends the row, so
// a root or a proof reads O(log n) nodes and never rescans the log.
//
// The tree stops at the first missing seq: a log whose seqs have a gap (a row deleted out of
// band before the tree existed) keeps the tree at the rows before the gap.
type Tree interface {
	// TreeSize returns the number of leaves.
	TreeSize(ctx context.Context) (uint64, error)
	// TreeNodes returns the hashes of the given complete subtree nodes, index for index; a node
	// not stored (beyond the tree's size) is an error.
	TreeNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error)
}

// TreeTx is a store's merkle_nodes table inside its write transaction, for ExtendTree.
type TreeTx interface {
	// Node returns the stored hash of a complete subtree node.
	Node(ctx context.Context, id compact.NodeID) ([]byte, error)
	// Put stores complete subtree nodes.
	Put(ctx context.Context, nodes []TreeNode) error
}

// TreeLog is a store's merkle_nodes table and its rows inside its write transaction, for
// CatchUpTree; the store keeps only the SQL.
type TreeLog interface {
	TreeTx
	// Size returns the number of leaves stored.
	Size(ctx context.Context) (uint64, error)
	// RowsAfter returns up to limit rows (seq and chain hash) with a seq above after, in seq
	// order.
	RowsAfter(ctx context.Context, after uint64, limit int) ([]Event, error)
}

// TreePage bounds the rows read at once while the tree catches up with the log.
const TreePage = 5000

// CatchUpTree brings the tree up to the log inside tx: it adds the rows after the tree's size
// as leaves, page by page, until the log ends or a seq is missing.
func CatchUpTree(ctx context.Context, tx TreeLog) error {
	size, err := tx.Size(ctx)
	if err != nil {
		return fmt.Errorf("read tree size: %w", err)
	}
	for {
		page, err := tx.RowsAfter(ctx, size, TreePage)
		if err != nil {
			return fmt.Errorf("read rows after %d: %w", size, err)
		}
		next, err := ExtendTree(ctx, tx, size, page)
		if err != nil {
			return fmt.Errorf("extend tree from %d: %w", size, err)
		}
		if len(page) < TreePage || next-size < uint64(len(page)) {
			return nil
		}
		size = next
	}
}

// AppendToTree adds appended, the rows an append just wrote (seq order), to the tree inside
// tx: as they are when the tree ends right before the first of them, which is the case after
// every append (the tree is caught up at open and by every write), so the append does not read
// back what it wrote; otherwise by CatchUpTree from the log.
func AppendToTree(ctx context.Context, tx TreeLog, appended []Event) error {
	size, err := tx.Size(ctx)
	if err != nil {
		return fmt.Errorf("read tree size: %w", err)
	}
	if len(appended) > 0 && appended[0].Seq == int64(size)+1 {
		next, err := ExtendTree(ctx, tx, size, appended)
		if err != nil {
			return fmt.Errorf("extend tree from %d: %w", size, err)
		}
		if next == size+uint64(len(appended)) {
			return nil
		}
	}
	return CatchUpTree(ctx, tx)
}

// TreeNode is one complete subtree node: level 0 is a leaf, level k covers 2^k leaves.
type TreeNode struct {
	ID   compact.NodeID
	Hash []byte
}

// Hasher is the tree's hasher: tlog.Hasher, RFC 6962 over SHA-256.
var Hasher = tlog.Hasher

// ErrTreeGap reports a seq the tree cannot extend to because the row before it is missing.
var ErrTreeGap = errors.New("audit tree: seqs are not contiguous")

// LeafHash is the Merkle leaf hash of a row (tlog.LeafHash): RFC 6962 HashLeaf over the 64
// ASCII characters of its chain hash (U-8), which already covers every hashed column and the
// previous row.
func LeafHash(chainHash string) []byte { return tlog.LeafHash(chainHash) }

// ExtendTree appends rows, whose seqs must continue the tree of the given size (size+1,
// size+2, …), as leaves, storing every node that completes. It stops at the first row that
// does not continue the tree and returns the new size.
func ExtendTree(ctx context.Context, tx TreeTx, size uint64, rows []Event) (uint64, error) {
	cache := map[compact.NodeID][]byte{}
	var out []TreeNode
	for i := range rows {
		if rows[i].Seq != int64(size)+1 {
			break
		}
		h := LeafHash(rows[i].Hash)
		id := compact.NewNodeID(0, size)
		cache[id] = h
		out = append(out, TreeNode{ID: id, Hash: h})
		for id.Index&1 == 1 {
			sib := id.Sibling()
			left, ok := cache[sib]
			if !ok {
				var err error
				if left, err = tx.Node(ctx, sib); err != nil {
					return 0, fmt.Errorf("audit tree node %d/%d: %w", sib.Level, sib.Index, err)
				}
			}
			h = Hasher.HashChildren(left, h)
			id = id.Parent()
			cache[id] = h
			out = append(out, TreeNode{ID: id, Hash: h})
		}
		size++
	}
	if len(out) == 0 {
		return size, nil
	}
	return size, tx.Put(ctx, out)
}

// NodesInOrder returns the hashes of ids, index for index, from got (a store's answer keyed by
// node); a node missing from got is not stored, an ErrTreeGap.
func NodesInOrder(ids []compact.NodeID, got map[compact.NodeID][]byte) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := got[id]
		if !ok {
			return nil, fmt.Errorf("node %d/%d not stored: %w", id.Level, id.Index, ErrTreeGap)
		}
		out[i] = h
	}
	return out, nil
}

var rangeFactory = compact.RangeFactory{Hash: Hasher.HashChildren}

// RootAt returns the root hash of the tree's first size leaves (RFC 6962 MTH).
func RootAt(ctx context.Context, t Tree, size uint64) ([]byte, error) {
	if size == 0 {
		return Hasher.EmptyRoot(), nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := t.TreeNodes(ctx, ids)
	if err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// InclusionProof returns the RFC 6962 inclusion proof of leaf index in the tree of size leaves.
func InclusionProof(ctx context.Context, t Tree, index, size uint64) ([][]byte, error) {
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return rehash(ctx, t, n)
}

// ConsistencyProof returns the RFC 6962 consistency proof from size1 leaves to size2.
func ConsistencyProof(ctx context.Context, t Tree, size1, size2 uint64) ([][]byte, error) {
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return rehash(ctx, t, n)
}

func rehash(ctx context.Context, t Tree, n proof.Nodes) ([][]byte, error) {
	hashes, err := t.TreeNodes(ctx, n.IDs)
	if err != nil {
		return nil, err
	}
	return n.Rehash(hashes, Hasher.HashChildren)
}
