package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/merkle/compact"

	"github.com/stasima/stasima/services/audit/internal/chain"
)

// createTree is the Merkle tree's node table: every complete subtree node over the rows
// (chain.Tree), written by the writer in the transaction that appends the rows. It is
// additive: audit_events keeps 0.1.5's format.
const createTree = `CREATE TABLE IF NOT EXISTS merkle_nodes (
	level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
	PRIMARY KEY (level, idx)) WITHOUT ROWID`

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func treeSize(ctx context.Context, q querier) (uint64, error) {
	var idx int64
	err := q.QueryRowContext(ctx, `SELECT idx FROM merkle_nodes WHERE level = 0 ORDER BY idx DESC LIMIT 1`).Scan(&idx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return uint64(idx) + 1, nil
}

// txTree is chain.TreeLog over a write transaction.
type txTree struct{ tx *sql.Tx }

func (t txTree) Size(ctx context.Context) (uint64, error) { return treeSize(ctx, t.tx) }

func (t txTree) RowsAfter(ctx context.Context, after uint64, limit int) ([]chain.Event, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT seq, hash FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var page []chain.Event
	for rows.Next() {
		var e chain.Event
		var h sql.NullString
		if err := rows.Scan(&e.Seq, &h); err != nil {
			return nil, err
		}
		e.Hash = h.String
		page = append(page, e)
	}
	return page, rows.Err()
}

func (t txTree) Node(ctx context.Context, id compact.NodeID) ([]byte, error) {
	return node(ctx, t.tx, id)
}

func (t txTree) Put(ctx context.Context, nodes []chain.TreeNode) error {
	stmt, err := t.tx.PrepareContext(ctx, `INSERT OR REPLACE INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, n := range nodes {
		if _, err := stmt.ExecContext(ctx, n.ID.Level, int64(n.ID.Index), n.Hash); err != nil {
			return err
		}
	}
	return nil
}

func node(ctx context.Context, q querier, id compact.NodeID) ([]byte, error) {
	var h []byte
	err := q.QueryRowContext(ctx, `SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?`, id.Level, int64(id.Index)).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("node %d/%d not stored: %w", id.Level, id.Index, chain.ErrTreeGap)
	}
	return h, err
}

// extendTree brings the tree up to the log inside tx (chain.CatchUpTree).
func extendTree(ctx context.Context, tx *sql.Tx) error {
	if err := chain.CatchUpTree(ctx, txTree{tx}); err != nil {
		return unavailable("tree", err, "catch the tree up with the log")
	}
	return nil
}

// TreeSize implements chain.Tree.
func (s *Store) TreeSize(ctx context.Context) (uint64, error) {
	n, err := treeSize(ctx, s.db)
	if err != nil {
		return 0, unavailable("tree", err, "read tree size")
	}
	return n, nil
}

// TreeNodes implements chain.Tree in one query. Stored nodes never change (the tree only
// grows), so the read needs no transaction.
func (s *Store) TreeNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 2*len(ids))
	q := strings.Builder{}
	q.WriteString(`SELECT level, idx, hash FROM merkle_nodes WHERE (level, idx) IN (VALUES `)
	for i, id := range ids {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?, ?)")
		args = append(args, id.Level, int64(id.Index))
	}
	q.WriteByte(')')
	rows, err := s.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, unavailable("tree", err, "read nodes")
	}
	defer rows.Close()
	got := make(map[compact.NodeID][]byte, len(ids))
	for rows.Next() {
		var (
			level int64
			idx   int64
			h     []byte
		)
		if err := rows.Scan(&level, &idx, &h); err != nil {
			return nil, unavailable("tree", err, "read nodes")
		}
		got[compact.NewNodeID(uint(level), uint64(idx))] = h
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("tree", err, "read nodes")
	}
	return chain.NodesInOrder(ids, got)
}
