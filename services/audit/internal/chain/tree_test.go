package chain

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/compact"
)

// memTreeLog is a log and its tree in memory: what a store's transaction offers AppendToTree,
// counting the rows it is asked to read back.
type memTreeLog struct {
	rows     []Event // seq i+1 at index i
	nodes    map[compact.NodeID][]byte
	readBack int
}

func (m *memTreeLog) Node(_ context.Context, id compact.NodeID) ([]byte, error) {
	h, ok := m.nodes[id]
	if !ok {
		return nil, ErrTreeGap
	}
	return h, nil
}

func (m *memTreeLog) Put(_ context.Context, nodes []TreeNode) error {
	for _, n := range nodes {
		m.nodes[n.ID] = n.Hash
	}
	return nil
}

func (m *memTreeLog) Size(context.Context) (uint64, error) {
	var n uint64
	for m.nodes[compact.NewNodeID(0, n)] != nil {
		n++
	}
	return n, nil
}

func (m *memTreeLog) RowsAfter(_ context.Context, after uint64, limit int) ([]Event, error) {
	rs := m.rows[min(int(after), len(m.rows)):]
	rs = rs[:min(limit, len(rs))]
	m.readBack += len(rs)
	return rs, nil
}

func (m *memTreeLog) TreeSize(ctx context.Context) (uint64, error) { return m.Size(ctx) }

func (m *memTreeLog) TreeNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	return NodesInOrder(ids, m.nodes)
}

// appendRows writes n more rows to the log and returns them.
func (m *memTreeLog) appendRows(n int) []Event {
	var out []Event
	for range n {
		seq := int64(len(m.rows)) + 1
		e := Event{Seq: seq, Hash: fmt.Sprintf("%064x", seq)}
		m.rows = append(m.rows, e)
		out = append(out, e)
	}
	return out
}

// TestAppendToTree: rows an append just wrote join a caught-up tree without being read back;
// a tree that lags the log (rows written before it existed) catches up from the log; either
// way the root is the root of every row (issue 15: the append read its own rows back).
func TestAppendToTree(t *testing.T) {
	ctx := context.Background()
	m := &memTreeLog{nodes: map[compact.NodeID][]byte{}}
	wantRoot := func(n uint64) {
		t.Helper()
		got, err := RootAt(ctx, m, n)
		if err != nil {
			t.Fatal(err)
		}
		want := &memTreeLog{nodes: map[compact.NodeID][]byte{}}
		if _, err := ExtendTree(ctx, want, 0, m.rows[:n]); err != nil {
			t.Fatal(err)
		}
		if w, _ := RootAt(ctx, want, n); !bytes.Equal(got, w) {
			t.Fatalf("root at %d: %x, want %x", n, got, w)
		}
	}
	for _, batch := range []int{1, 3, 4, 7} {
		if err := AppendToTree(ctx, m, m.appendRows(batch)); err != nil {
			t.Fatal(err)
		}
	}
	if m.readBack != 0 {
		t.Fatalf("appends read %d rows back", m.readBack)
	}
	wantRoot(15)
	// Rows the tree does not hold yet (a log older than its tree): the next append catches up.
	m.appendRows(5)
	if err := AppendToTree(ctx, m, m.appendRows(2)); err != nil {
		t.Fatal(err)
	}
	if m.readBack != 7 {
		t.Fatalf("catching up read %d rows, want the 7 the tree lacked", m.readBack)
	}
	wantRoot(22)
	// An append of only replays (nothing new) leaves the tree as it is.
	if err := AppendToTree(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	wantRoot(22)
}
