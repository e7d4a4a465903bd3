package ranking

import (
	"slices"
	"sync"

	"github.com/stasima/stasima/services/indexer/internal/embed"
)

// Candidate is one row found by a search side: its ins_seq and embedding score (embed.Dot).
type Candidate struct {
	Seq   int64
	Score float64

	fused              float64
	keyword, embedding bool
}

// Vectors is a store's in-memory copy of every row's embedding and filter fields, in ins_seq
// order, so the exhaustive embedding scan of S-10…S-12 costs a pass over memory instead of a
// decode of every stored vector. The vectors are the stored float64 values, so scores are
// bit-identical to scoring the rows read back. Gen is the store generation the copy reflects:
// a store bumps its generation in every write transaction and reloads the copy when another
// writer moved it. Safe for concurrent use.
type Vectors struct {
	mu       sync.RWMutex
	gen      int64 // -1: stale, reload before use
	ents     []vent
	pos      map[int64]int // ins_seq → index in ents
	dead     int
	unsorted bool
}

type vent struct {
	Meta
	vec  []float64
	dead bool
}

// NewVectors returns an empty, stale table.
func NewVectors() *Vectors { return &Vectors{gen: -1, pos: map[int64]int{}} }

// Gen returns the store generation the table reflects, -1 when stale.
func (v *Vectors) Gen() int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.gen
}

// Invalidate marks the table stale.
func (v *Vectors) Invalidate() {
	v.mu.Lock()
	v.gen = -1
	v.mu.Unlock()
}

// Load replaces the table with metas and their vectors at generation gen.
func (v *Vectors) Load(gen int64, metas []Meta, vecs [][]float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ents = make([]vent, len(metas))
	for i, m := range metas {
		v.ents[i] = vent{Meta: m, vec: vecs[i]}
	}
	v.dead = 0
	v.unsorted = true
	v.gen = gen
	v.normalize()
}

// Apply records one write transaction that moved the store from generation from to to:
// deleted ins_seqs went, added rows (with vectors) came. When the table was not at from
// (another writer interleaved), it becomes stale instead.
func (v *Vectors) Apply(from, to int64, deleted []int64, added []Meta, vecs [][]float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen < 0 || v.gen != from {
		v.gen = -1
		return
	}
	for _, seq := range deleted {
		if i, ok := v.pos[seq]; ok && !v.ents[i].dead {
			v.ents[i].dead, v.ents[i].vec = true, nil
			delete(v.pos, seq)
			v.dead++
		}
	}
	for i, m := range added {
		if n := len(v.ents); n > 0 && v.ents[n-1].Seq >= m.Seq {
			v.unsorted = true
		}
		if j, ok := v.pos[m.Seq]; ok && !v.ents[j].dead { // a reused rowid replaces its holder
			v.ents[j].dead, v.ents[j].vec = true, nil
			v.dead++
		}
		v.pos[m.Seq] = len(v.ents)
		v.ents = append(v.ents, vent{Meta: m, vec: vecs[i]})
	}
	v.gen = to
	if v.unsorted || v.dead > len(v.ents)/2 {
		v.normalize()
	}
}

// normalize drops dead entries, sorts by ins_seq and rebuilds pos. Callers hold mu.
func (v *Vectors) normalize() {
	live := v.ents[:0]
	for _, e := range v.ents {
		if !e.dead {
			live = append(live, e)
		}
	}
	if v.unsorted {
		slices.SortStableFunc(live, func(a, b vent) int { return cmpAsc(a.Seq, b.Seq) })
	}
	clear(v.ents[len(live):])
	v.ents, v.dead, v.unsorted = live, 0, false
	v.pos = make(map[int64]int, len(live))
	for i, e := range live {
		v.pos[e.Seq] = i
	}
}

// Len returns the number of live rows.
func (v *Vectors) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.ents) - v.dead
}

// Score returns the embedding score of the row at seq against qv (0 when it has none).
func (v *Vectors) Score(seq int64, qv []float64) float64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if i, ok := v.pos[seq]; ok {
		return embed.Dot(qv, v.ents[i].vec)
	}
	return 0
}

// better is the S-11 order: score descending, then ins_seq ascending.
func better(a, b Candidate) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.Seq < b.Seq)
}

// TopK returns the k best rows admitted by q that have an embedding, in S-11 order.
func (v *Vectors) TopK(q Query, k int) []Candidate {
	if k < 1 {
		return nil
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	// h is a binary heap with the worst kept candidate at the root. Rows arrive in ins_seq
	// order, so a later row enters only with a strictly higher score than the root.
	h := make([]Candidate, 0, min(k, 1024))
	for i := range v.ents {
		e := &v.ents[i]
		if e.dead || len(e.vec) == 0 || !q.Admits(e.Meta) {
			continue
		}
		c := Candidate{Seq: e.Seq, Score: embed.Dot(q.Vector, e.vec)}
		if len(h) < k {
			h = append(h, c)
			up(h, len(h)-1)
			continue
		}
		if better(c, h[0]) {
			h[0] = c
			down(h, 0)
		}
	}
	slices.SortFunc(h, func(a, b Candidate) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	return h
}

// up and down keep the heap property "parent is worse than its children".
func up(h []Candidate, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !better(h[p], h[i]) {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func down(h []Candidate, i int) {
	for {
		w, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && better(h[w], h[l]) {
			w = l
		}
		if r < len(h) && better(h[w], h[r]) {
			w = r
		}
		if w == i {
			return
		}
		h[w], h[i] = h[i], h[w]
		i = w
	}
}

// Admits reports whether the row at seq is present and admitted by q's S-10 filter (the
// keyword side's filter; a row without an embedding is admitted there).
func (v *Vectors) Admits(q Query, seq int64) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	i, ok := v.pos[seq]
	return ok && q.Admits(v.ents[i].Meta)
}
