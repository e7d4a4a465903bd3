package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"

	"github.com/stasima/stasima/services/audit/internal/chain"
)

// createTree is the Merkle tree's node table: every complete subtree node over the rows
// (chain.Tree), written by the writer in the transaction that appends the rows. It is
// additive: audit_events keeps its format. Created by the store rather than a numbered
// migration so the tree can be built, under the table lock, for a log of any age.
const createTree = `CREATE TABLE IF NOT EXISTS merkle_nodes (
	level integer NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL,
	PRIMARY KEY (level, idx))`

type querier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

func treeSize(ctx context.Context, q querier) (uint64, error) {
	var idx int64
	err := q.QueryRow(ctx, `SELECT idx FROM merkle_nodes WHERE level = 0 ORDER BY idx DESC LIMIT 1`).Scan(&idx)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return uint64(idx) + 1, nil
}

// txTree is chain.TreeLog over a write transaction.
type txTree struct{ tx pgx.Tx }

func (t txTree) Size(ctx context.Context) (uint64, error) { return treeSize(ctx, t.tx) }

func (t txTree) RowsAfter(ctx context.Context, after uint64, limit int) ([]chain.Event, error) {
	rows, err := t.tx.Query(ctx, `SELECT seq, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var page []chain.Event
	for rows.Next() {
		var e chain.Event
		var h *string
		if err := rows.Scan(&e.Seq, &h); err != nil {
			return nil, err
		}
		e.Hash = deref(h)
		page = append(page, e)
	}
	return page, rows.Err()
}

func (t txTree) Node(ctx context.Context, id compact.NodeID) ([]byte, error) {
	hs, err := nodes(ctx, t.tx, []compact.NodeID{id})
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

func (t txTree) Put(ctx context.Context, ns []chain.TreeNode) error {
	levels := make([]int32, len(ns))
	idxs := make([]int64, len(ns))
	hashes := make([][]byte, len(ns))
	for i, n := range ns {
		levels[i], idxs[i], hashes[i] = int32(n.ID.Level), int64(n.ID.Index), n.Hash
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO merkle_nodes (level, idx, hash)
		SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[])
		ON CONFLICT (level, idx) DO UPDATE SET hash = EXCLUDED.hash`, levels, idxs, hashes)
	return err
}

// nodes reads the given nodes in one query, in the order asked.
func nodes(ctx context.Context, q querier, ids []compact.NodeID) ([][]byte, error) {
	levels := make([]int32, len(ids))
	idxs := make([]int64, len(ids))
	for i, id := range ids {
		levels[i], idxs[i] = int32(id.Level), int64(id.Index)
	}
	rows, err := q.Query(ctx, `SELECT n.level, n.idx, n.hash FROM unnest($1::integer[], $2::bigint[]) AS w(level, idx)
		JOIN merkle_nodes n ON n.level = w.level AND n.idx = w.idx`, levels, idxs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := make(map[compact.NodeID][]byte, len(ids))
	for rows.Next() {
		var (
			level int32
			idx   int64
			h     []byte
		)
		if err := rows.Scan(&level, &idx, &h); err != nil {
			return nil, err
		}
		got[compact.NewNodeID(uint(level), uint64(idx))] = h
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return chain.NodesInOrder(ids, got)
}

// extendTree brings the tree up to the log inside tx, which holds the table lock
// (chain.CatchUpTree).
func extendTree(ctx context.Context, tx pgx.Tx) error {
	if err := chain.CatchUpTree(ctx, txTree{tx}); err != nil {
		return unavailable("tree", err, "catch the tree up with the log")
	}
	return nil
}

// buildTree creates merkle_nodes if needed and brings the tree up to the log, under the
// table lock, so a log written before the tree existed gets its tree at start.
func (s *Store) buildTree(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable("tree", err, "begin")
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, createTree); err != nil {
		return unavailable("tree", err, "create merkle_nodes")
	}
	if _, err := tx.Exec(ctx, lockTable); err != nil {
		return unavailable("tree", err, "lock")
	}
	if err := extendTree(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable("tree", err, "commit")
	}
	return nil
}

// TreeSize implements chain.Tree.
func (s *Store) TreeSize(ctx context.Context) (uint64, error) {
	n, err := treeSize(ctx, s.pool)
	if err != nil {
		return 0, unavailable("tree", err, "read tree size")
	}
	return n, nil
}

// TreeNodes implements chain.Tree. Stored nodes never change (the tree only grows), so one
// query suffices.
func (s *Store) TreeNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	hs, err := nodes(ctx, s.pool, ids)
	if err != nil && !errors.Is(err, chain.ErrTreeGap) {
		return nil, unavailable("tree", err, "read nodes")
	}
	return hs, err
}
