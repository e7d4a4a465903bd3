package gitstore

import (
	"container/heap"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
)

// Commit-graph queries: merge bases, ancestry and the first-parent chain.
// They read parents through the commit meta cache of count.go (immutable per
// oid, C-pos-4) and order walks by generation number, which, unlike committer
// dates, is exact whatever the clocks did: a commit's generation is above every
// ancestor's. Generations are computed once per commit for the store's life.

// MergeBase returns the best common ancestor of commits a and b, with the
// semantics of `git merge-base a b` (O-merge-2); ok is false when the two
// histories are unrelated. An unknown oid is fault.RefNotFound.
//
// The best common ancestors are the common ancestors that are not ancestors
// of another common ancestor (`git merge-base --all`). Stasima's own writes
// give exactly one: only canon receives merges, and the proposals it merges
// hold no merge commits. Several best bases (a criss-cross merge, which only
// out-of-band history can create) are resolved as `git merge-base` resolves
// them: the one with the newest committer date, ties going to the one a
// generation-ordered walk from a and b finds first. No virtual base is built
// (git merge's ort strategy merges the bases recursively; O-merge-2 asks for
// the single base git merge-base chooses).
func (s *Store) MergeBase(a, b string) (string, bool, error) {
	const op = "gitstore.merge_base"
	ha, err := parseOID(op, a)
	if err != nil {
		return "", false, err
	}
	hb, err := parseOID(op, b)
	if err != nil {
		return "", false, err
	}
	h, ok, err := s.mergeBase(op, ha, hb)
	if err != nil || !ok {
		return "", false, err
	}
	return h.String(), true, nil
}

// mergeBase is MergeBase on hashes.
func (s *Store) mergeBase(op string, a, b plumbing.Hash) (plumbing.Hash, bool, error) {
	bases, err := s.mergeBases(op, a, b)
	if err != nil || len(bases) == 0 {
		return plumbing.ZeroHash, false, err
	}
	if len(bases) > 1 {
		// git lists the bases newest committer date first, ties in the order
		// its walk found them (commit_list_insert_by_date is stable).
		when := make(map[plumbing.Hash]int64, len(bases))
		for _, h := range bases {
			c, err := s.getCommit(op, h)
			if err != nil {
				return plumbing.ZeroHash, false, err
			}
			when[h] = c.Committer.When.Unix()
		}
		slices.SortStableFunc(bases, func(x, y plumbing.Hash) int {
			switch {
			case when[x] > when[y]:
				return -1
			case when[x] < when[y]:
				return 1
			}
			return 0
		})
	}
	return bases[0], true, nil
}

// mergeBases returns every best common ancestor of a and b in the order the
// walk finds them: git's paint_down_to_common, ordered by generation. Commits
// are painted with the sides they are reachable from; a commit painted by
// both is a common ancestor, and its ancestors are painted stale. Popping the
// highest generation first means a commit's paint is final when it is popped
// (every descendant in the walk was popped before it), so a common ancestor
// popped without the stale paint is a best one and no redundancy pass is
// needed. The walk ends when every queued commit is stale.
func (s *Store) mergeBases(op string, a, b plumbing.Hash) ([]plumbing.Hash, error) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	if _, err := s.generation(op, a); err != nil {
		return nil, err
	}
	if a == b {
		return []plumbing.Hash{a}, nil
	}
	if _, err := s.generation(op, b); err != nil {
		return nil, err
	}
	const (
		side1 uint8 = 1 << iota
		side2
		stale
	)
	paint := make(map[plumbing.Hash]uint8)
	var q walkQueue
	live := 0 // queued commits not painted stale
	mark := func(h plumbing.Hash, p uint8) {
		old, queued := paint[h]
		nw := old | p
		if queued && nw == old {
			return
		}
		paint[h] = nw
		switch {
		case !queued:
			q.push(h, s.meta[h].gen)
			if nw&stale == 0 {
				live++
			}
		case old&stale == 0 && nw&stale != 0:
			live--
		}
	}
	mark(a, side1)
	mark(b, side2)
	var bases []plumbing.Hash
	for live > 0 {
		h := q.pop()
		p := paint[h]
		if p&stale == 0 {
			live--
		}
		if p&(side1|side2) == side1|side2 && p&stale == 0 {
			bases = append(bases, h)
			p |= stale
		}
		for _, parent := range s.meta[h].parents {
			mark(parent, p)
		}
	}
	return bases, nil
}

// IsAncestor reports whether commit a is reachable from commit b (a commit is
// its own ancestor), as `git merge-base --is-ancestor a b`. The walk from b
// descends only into commits whose generation is above a's. An unknown oid is
// fault.RefNotFound.
func (s *Store) IsAncestor(a, b string) (bool, error) {
	const op = "gitstore.is_ancestor"
	ha, err := parseOID(op, a)
	if err != nil {
		return false, err
	}
	hb, err := parseOID(op, b)
	if err != nil {
		return false, err
	}
	s.countMu.Lock()
	defer s.countMu.Unlock()
	ga, err := s.generation(op, ha)
	if err != nil {
		return false, err
	}
	gb, err := s.generation(op, hb)
	switch {
	case err != nil:
		return false, err
	case ha == hb:
		return true, nil
	case ga >= gb:
		return false, nil // an ancestor's generation is below its descendants'
	}
	seen := map[plumbing.Hash]bool{hb: true}
	stack := []plumbing.Hash{hb}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range s.meta[h].parents {
			if p == ha {
				return true, nil
			}
			if !seen[p] && s.meta[p].gen > ga {
				seen[p] = true
				stack = append(stack, p)
			}
		}
	}
	return false, nil
}

// FirstParentChain returns the commits on tipOID's first-parent chain, oldest
// (the root) first and tipOID last, as `git rev-list --first-parent --reverse`.
// A commit's 1-based index in it is its canon position (C-pos-3); a proposal
// tip's distance from the end is its lands_behind (C-prop-3). An unknown oid
// is fault.RefNotFound.
func (s *Store) FirstParentChain(tipOID string) ([]string, error) {
	const op = "gitstore.first_parent_chain"
	tip, err := parseOID(op, tipOID)
	if err != nil {
		return nil, err
	}
	chain, err := s.firstParents(op, tip)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(chain))
	for i, h := range chain {
		out[len(chain)-1-i] = h.String()
	}
	return out, nil
}

// firstParents returns tip's first-parent chain, tip first.
func (s *Store) firstParents(op string, tip plumbing.Hash) ([]plumbing.Hash, error) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	var chain []plumbing.Hash
	for h, ok := tip, true; ok; {
		m, err := s.metaOf(op, h)
		if err != nil {
			return nil, err
		}
		chain = append(chain, h)
		if ok = len(m.parents) > 0; ok {
			h = m.parents[0]
		}
	}
	return chain, nil
}

// generation returns h's generation number (1 for a root, else one more than
// its parents' largest), computing it, iteratively, for every ancestor that
// has none yet; the values are cached in the commit meta for good. countMu
// must be held.
func (s *Store) generation(op string, h plumbing.Hash) (uint32, error) {
	m, err := s.metaOf(op, h)
	if err != nil {
		return 0, err
	}
	if m.gen > 0 {
		return m.gen, nil
	}
	if err := s.postOrder(op, h, func(m *commitMeta) bool { return m.gen > 0 }, func(m *commitMeta) { m.gen = s.genFromParents(m) }); err != nil {
		return 0, err
	}
	return m.gen, nil
}

// walkQueue pops the highest generation first, ties in the order queued, so
// that a walk is deterministic.
type walkQueue struct {
	items walkItems
	seq   int
}

type walkItem struct {
	h   plumbing.Hash
	gen uint32
	seq int
}

func (q *walkQueue) push(h plumbing.Hash, gen uint32) {
	heap.Push(&q.items, walkItem{h: h, gen: gen, seq: q.seq})
	q.seq++
}

func (q *walkQueue) pop() plumbing.Hash { return heap.Pop(&q.items).(walkItem).h }

type walkItems []walkItem

func (q walkItems) Len() int { return len(q) }
func (q walkItems) Less(i, j int) bool {
	if q[i].gen != q[j].gen {
		return q[i].gen > q[j].gen
	}
	return q[i].seq < q[j].seq
}
func (q walkItems) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *walkItems) Push(x any)   { *q = append(*q, x.(walkItem)) }
func (q *walkItems) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
