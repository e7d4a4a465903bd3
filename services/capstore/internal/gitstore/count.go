package gitstore

import (
	"container/heap"

	"github.com/go-git/go-git/v5/plumbing"
)

// commitMeta is what CountCommits remembers about a commit. Commits are
// immutable, so entries are cached without expiry (C-pos-4).
type commitMeta struct {
	parents []plumbing.Hash
	gen     uint32 // generation: 1 for a root, else 1 + max(parents' gen)
	count   int    // commits reachable from this one, itself included; 0 = unknown
}

// CountCommits returns the number of commits reachable from oid, itself
// included (C-pos-1: the next commit's instance_depth is this + 1). Results are
// cached per oid without expiry (C-pos-4) and computed incrementally: a commit
// with one parent counts parent + 1; a merge counts its first parent + 1 + the
// commits reachable from its other parents but not from the first, found by a
// generation-ordered walk that stops where the two sides meet. An unknown oid
// is fault.RefNotFound.
func (s *Store) CountCommits(oid string) (int, error) {
	const op = "gitstore.count_commits"
	h, err := parseOID(op, oid)
	if err != nil {
		return 0, err
	}
	s.countMu.Lock()
	defer s.countMu.Unlock()
	m, err := s.metaOf(op, h)
	if err != nil {
		return 0, err
	}
	if m.count > 0 {
		return m.count, nil
	}
	err = s.postOrder(op, h, func(m *commitMeta) bool { return m.count > 0 }, func(m *commitMeta) {
		m.gen = s.genFromParents(m)
		switch len(m.parents) {
		case 0:
			m.count = 1
		case 1:
			m.count = s.meta[m.parents[0]].count + 1
		default:
			m.count = s.meta[m.parents[0]].count + 1 + s.countExclusive(m.parents[0], m.parents[1:])
		}
	})
	if err != nil {
		return 0, err
	}
	return s.meta[h].count, nil
}

// postOrder visits h and its ancestors parents-first, skipping (and not descending below)
// commits for which done is true, and calls finish on each other commit once all its parents
// are done. It is iterative: history is far deeper than a goroutine stack should be.
// countMu must be held.
func (s *Store) postOrder(op string, h plumbing.Hash, done func(*commitMeta) bool, finish func(*commitMeta)) error {
	stack := []plumbing.Hash{h}
	for len(stack) > 0 {
		top := s.meta[stack[len(stack)-1]]
		if done(top) {
			stack = stack[:len(stack)-1]
			continue
		}
		ready := true
		for _, p := range top.parents {
			pm, err := s.metaOf(op, p)
			if err != nil {
				return err
			}
			if !done(pm) {
				stack = append(stack, p)
				ready = false
			}
		}
		if !ready {
			continue
		}
		stack = stack[:len(stack)-1]
		finish(top)
	}
	return nil
}

// genFromParents is the generation of a commit whose parents' generations are known.
func (s *Store) genFromParents(m *commitMeta) uint32 {
	g := uint32(1)
	for _, p := range m.parents {
		g = max(g, s.meta[p].gen+1)
	}
	return g
}

// metaOf returns the cached meta of h, reading the commit's parents on first use.
// countMu must be held.
func (s *Store) metaOf(op string, h plumbing.Hash) (*commitMeta, error) {
	if m, ok := s.meta[h]; ok {
		return m, nil
	}
	c, err := s.getCommit(op, h)
	if err != nil {
		return nil, err
	}
	m := &commitMeta{parents: c.ParentHashes}
	s.meta[h] = m
	return m, nil
}

// countExclusive counts the commits reachable from others but not from first.
// Every commit involved has its generation cached. Commits are popped highest
// generation first; a parent's generation is below each child's, so a commit's
// paint (reachable from first: A; from others: B) is final when it is popped.
// The walk ends when no queued commit is painted B alone. countMu must be held.
func (s *Store) countExclusive(first plumbing.Hash, others []plumbing.Hash) int {
	const (
		paintA = 1
		paintB = 2
	)
	paint := make(map[plumbing.Hash]uint8)
	var q genQueue
	bOnly, n := 0, 0
	mark := func(h plumbing.Hash, p uint8) {
		old, queued := paint[h]
		nw := old | p
		if queued && nw == old {
			return
		}
		paint[h] = nw
		switch {
		case !queued:
			heap.Push(&q, genItem{h: h, gen: s.meta[h].gen})
			if nw == paintB {
				bOnly++
			}
		case old == paintB:
			bOnly-- // now painted by both sides
		}
	}
	mark(first, paintA)
	for _, o := range others {
		mark(o, paintB)
	}
	for bOnly > 0 {
		h := heap.Pop(&q).(genItem).h
		p := paint[h]
		if p == paintB {
			bOnly--
			n++
		}
		for _, parent := range s.meta[h].parents {
			mark(parent, p)
		}
	}
	return n
}

type genItem struct {
	h   plumbing.Hash
	gen uint32
}

// genQueue pops the highest generation first.
type genQueue []genItem

func (q genQueue) Len() int           { return len(q) }
func (q genQueue) Less(i, j int) bool { return q[i].gen > q[j].gen }
func (q genQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *genQueue) Push(x any)        { *q = append(*q, x.(genItem)) }
func (q *genQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
