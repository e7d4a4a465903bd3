// Package ranking owns map_search's semantics for every index store (search.md S-10…S-15,
// S-80): the query and hit types, the S-10 candidate filter, 0.1.5's exact embedding ranking,
// the hybrid keyword ∪ embedding fusion, the keyword terms of a query, and the in-memory vector
// table a store scans for the embedding side. A store supplies only what its database does
// best: the keyword top-k by full-text rank and the rows of the hits. Because both backends
// score embeddings here, with the same float64 arithmetic, embedding-mode answers are identical
// across backends; keyword ranks come from each database's own full-text rank function.
package ranking

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// Search modes (operations §8.3 search_mode).
const (
	// ModeHybrid fuses the keyword top-k and the embedding top-k by reciprocal rank.
	ModeHybrid = "hybrid"
	// ModeEmbedding is 0.1.5's exact ranking (S-10…S-15).
	ModeEmbedding = "embedding"
)

// Scope values of map_search (S-10). Any other value, "all" included, applies no scope filter.
const (
	ScopeCanon = "canon"
	ScopeMine  = "mine"
	ScopeAll   = "all"
)

// PreviewLen is the number of characters of body_text in a hit's preview (S-13).
const PreviewLen = 160

// RRFK is the reciprocal rank fusion constant: a hit at rank r (1-based) on one side adds
// 1/(RRFK + r) to its fused score.
const RRFK = 60

// DefaultDepth is how many candidates each side contributes in hybrid mode (at least Limit).
const DefaultDepth = 100

// Hit sources named in Hit.Matched.
const (
	MatchedKeyword   = "keyword"
	MatchedEmbedding = "embedding"
)

// Query is one map_search.
type Query struct {
	// Mode is ModeHybrid or ModeEmbedding; "" is ModeEmbedding (the store's 0.1.5 default;
	// the service's configured default is hybrid).
	Mode string
	// Text is the query text, for the keyword side.
	Text string
	// Vector is the query embedding of Text (S-20).
	Vector            []float64
	InstanceID        string // the caller's seat, for ScopeMine
	Scope             string
	Type              string // "" = any type (msg and vap are always excluded, INV-10)
	IncludeSuperseded bool
	IncludeWeak       bool
	Limit             int     // < 1 returns no hits (D-16)
	Floor             float64 // search_score_floor, or the embedder's default floor
	// Depth is the per-side candidate count of hybrid mode; 0 is DefaultDepth.
	Depth int
	// Selective is the most rows a phrase may match and still be ranked over the whole index;
	// 0 is SelectiveDF. (Tests lower it to drive the common-phrase path on a small corpus.)
	Selective int
}

// Meta is what the S-10 filter reads of a row.
type Meta struct {
	Seq     int64 // ins_seq
	Type    string
	Status  string
	Author  string
	IsCanon bool
}

// MetaOf returns r's filter fields.
func MetaOf(r rows.Row) Meta {
	return Meta{Seq: r.InsSeq, Type: r.Type, Status: r.Status, Author: r.AuthoringInstance, IsCanon: r.IsCanon}
}

// Admits is the S-10 candidate predicate (embedding presence aside).
func (q Query) Admits(m Meta) bool {
	switch {
	case m.Type == "msg" || m.Type == "vap": // INV-10
		return false
	case !q.IncludeSuperseded && m.Status != "active":
		return false
	case q.Type != "" && m.Type != q.Type:
		return false
	case q.Scope == ScopeCanon && !m.IsCanon:
		return false
	case q.Scope == ScopeMine && m.Author != q.InstanceID:
		return false
	}
	return true
}

// Envelopes returns {path: envelope} of rs (S-53).
func Envelopes(rs []rows.Row) map[string]schema.EntryEnvelope {
	out := make(map[string]schema.EntryEnvelope, len(rs))
	for _, r := range rs {
		out[r.Path] = schema.EntryEnvelope{Title: r.Title, Status: r.Status, Type: r.Type, Tick: r.Tick, Thread: r.Thread}
	}
	return out
}

// maxPhrases bounds the keyword side's work on a pathological query.
const maxPhrases = 32

// Phrases are the keyword terms of a query: each whitespace-separated word becomes the phrase
// of its tokens (embed.Tokens), so "deploy-v2.4.7-hotfix" must match its five tokens adjacent
// and in order while separate words match independently (OR). Tokens contain only letters and
// digits, so no full-text query syntax (quotes, NEAR, column filters, operators) survives.
// Duplicate phrases are dropped; at most 32 are kept.
func Phrases(text string) [][]string {
	var out [][]string
	seen := map[string]bool{}
	for _, w := range strings.Fields(text) {
		toks := embed.Tokens(w)
		key := strings.Join(toks, " ")
		if len(toks) == 0 || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, toks)
		if len(out) == maxPhrases {
			break
		}
	}
	return out
}

// Terms is the text a store's full-text index holds for r: its tokens (embed.Tokens of title
// and body) joined by spaces, so both backends tokenize documents and queries alike.
func Terms(r rows.Row) string { return strings.Join(embed.Tokens(r.EmbedText()), " ") }

// SelectiveDF is the most rows a phrase may match and still be ranked over the whole index on
// the keyword side. A phrase matching more (a common word) is matched only among the embedding
// candidates, so a common-term query costs a bounded scan, not a full-text rank of most rows;
// rare identifiers — what the keyword side is for — always rank globally.
const SelectiveDF = 2000

// Source is what a store answers for Search.
type Source interface {
	// PhraseDF returns how many rows match phrase, or any number above limit when more do.
	PhraseDF(ctx context.Context, phrase []string, limit int) (int, error)
	// KeywordTopK returns up to k ins_seqs of rows admitted by q whose terms match any of
	// phrases, best full-text rank first, ties by ins_seq ascending.
	KeywordTopK(ctx context.Context, q Query, phrases [][]string, k int) ([]int64, error)
	// RowsBySeq returns the rows with the given ins_seqs (absent ones are missing).
	RowsBySeq(ctx context.Context, seqs []int64) (map[int64]rows.Row, error)
}

// Search answers q from the store's vectors and source. Embedding mode is S-10…S-15 exactly:
// every admitted row with an embedding scored by embed.Dot, sorted by score descending then
// ins_seq ascending, cut to Limit, then the floor applied to the rounded scores. Hybrid mode
// takes the top Depth of each side, fuses them by reciprocal rank (ties: keyword matches first,
// then higher embedding score, then ins_seq ascending), cuts to Limit, and withholds under the
// floor only the hits no keyword matched.
func Search(ctx context.Context, vt *Vectors, src Source, q Query) (schema.SearchResult, error) {
	res := schema.SearchResult{Results: []schema.SearchHit{}}
	if q.Limit < 1 {
		return res, nil
	}
	if q.Mode != ModeHybrid {
		cands := vt.TopK(q, q.Limit)
		return build(ctx, src, q, cands)
	}
	depth := q.Depth
	if depth <= 0 {
		depth = DefaultDepth
	}
	depth = max(depth, q.Limit)
	emb := vt.TopK(q, depth)
	// The embedding candidates' rows are read while the keyword side counts its phrases: a
	// common phrase ranks them (rankWithin), and the hits are mostly among them (build).
	ro := &readOnce{Source: src}
	if len(emb) > 0 && strings.TrimSpace(q.Text) != "" {
		seqs := make([]int64, len(emb))
		for i, c := range emb {
			seqs[i] = c.Seq
		}
		ro.prefetch(ctx, seqs)
	}
	defer ro.wait()
	src = ro
	kw, err := keywordSide(ctx, src, q, emb, depth)
	if err != nil {
		return res, err
	}
	byseq := make(map[int64]*Candidate, len(emb)+len(kw))
	var all []*Candidate
	for i, c := range emb {
		c := c
		c.fused = 1 / float64(RRFK+i+1)
		c.embedding = true
		byseq[c.Seq] = &c
		all = append(all, &c)
	}
	for i, seq := range kw {
		c, ok := byseq[seq]
		if !ok {
			c = &Candidate{Seq: seq, Score: vt.Score(seq, q.Vector)}
			byseq[seq] = c
			all = append(all, c)
		}
		c.fused += 1 / float64(RRFK+i+1)
		c.keyword = true
	}
	slices.SortFunc(all, func(a, b *Candidate) int {
		switch {
		case a.fused != b.fused:
			return cmpDesc(a.fused, b.fused)
		case a.keyword != b.keyword:
			if a.keyword {
				return -1
			}
			return 1
		case a.Score != b.Score:
			return cmpDesc(a.Score, b.Score)
		}
		return cmpAsc(a.Seq, b.Seq)
	})
	cands := make([]Candidate, len(all))
	for i, c := range all {
		cands[i] = *c
	}
	if len(cands) > q.Limit {
		cands = cands[:q.Limit]
	}
	return build(ctx, src, q, cands)
}

// readOnce is one search's view of its Source: rows are read at most once, the embedding
// candidates' rows ahead of need (prefetch). A failed prefetch leaves the rows to be read when
// asked for.
type readOnce struct {
	Source
	done chan struct{} // closed when the prefetch returned; nil without one
	rows map[int64]rows.Row
}

func (r *readOnce) prefetch(ctx context.Context, seqs []int64) {
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		if rs, err := r.Source.RowsBySeq(ctx, seqs); err == nil {
			r.rows = rs
		}
	}()
}

// wait returns once no prefetch is running.
func (r *readOnce) wait() {
	if r.done != nil {
		<-r.done
	}
}

// RowsBySeq answers from the rows read already and reads the rest.
func (r *readOnce) RowsBySeq(ctx context.Context, seqs []int64) (map[int64]rows.Row, error) {
	r.wait()
	out := make(map[int64]rows.Row, len(seqs))
	var missing []int64
	for _, seq := range seqs {
		if row, ok := r.rows[seq]; ok {
			out[seq] = row
		} else {
			missing = append(missing, seq)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	rs, err := r.Source.RowsBySeq(ctx, missing)
	if err != nil {
		return nil, err
	}
	if r.rows == nil {
		r.rows = make(map[int64]rows.Row, len(rs))
	}
	for seq, row := range rs {
		out[seq], r.rows[seq] = row, row
	}
	return out, nil
}

// keywordSide ranks the selective phrases over the whole index, then adds the embedding
// candidates matching any phrase (common ones included), up to depth.
func keywordSide(ctx context.Context, src Source, q Query, emb []Candidate, depth int) ([]int64, error) {
	all := Phrases(q.Text)
	if len(all) == 0 {
		return nil, nil
	}
	limit := q.Selective
	if limit <= 0 {
		limit = SelectiveDF
	}
	dfs, err := phraseDFs(ctx, src, all, limit)
	if err != nil {
		return nil, err
	}
	var selective [][]string
	for i, p := range all {
		if dfs[i] <= limit {
			selective = append(selective, p)
		}
	}
	var out []int64
	if len(selective) > 0 {
		var err error
		if out, err = src.KeywordTopK(ctx, q, selective, depth); err != nil {
			return nil, err
		}
	}
	if len(selective) == len(all) || len(out) >= depth || len(emb) == 0 {
		return out, nil
	}
	more, err := rankWithin(ctx, src, all, dfs, emb)
	if err != nil {
		return nil, err
	}
	for _, seq := range more {
		if len(out) == depth {
			break
		}
		if !slices.Contains(out, seq) {
			out = append(out, seq)
		}
	}
	return out, nil
}

// phraseDFs counts each phrase's matches (up to limit+1) concurrently: a common phrase's count
// reads limit+1 rows, and the store serves the counts in parallel (a pool of connections).
// The first error in phrase order is returned.
func phraseDFs(ctx context.Context, src Source, phrases [][]string, limit int) ([]int, error) {
	dfs := make([]int, len(phrases))
	errs := make([]error, len(phrases))
	if len(phrases) == 1 {
		dfs[0], errs[0] = src.PhraseDF(ctx, phrases[0], limit)
		return dfs, errs[0]
	}
	var wg sync.WaitGroup
	for i, p := range phrases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dfs[i], errs[i] = src.PhraseDF(ctx, p, limit)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return dfs, nil
}

// BM25 parameters of rankWithin (the usual values, as FTS5 and most engines use).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// rankWithin ranks the embedding candidates that match any phrase by BM25 computed here, over
// the candidates' own tokens (the text the full-text index holds, Terms): phrase frequency per
// row, the phrase's document frequency from the store (capped at SelectiveDF+1 for a common
// phrase, which only flattens the weights of common phrases against each other) and the
// candidates' mean length. A store's full-text rank restricted to a rowid set recomputes its
// corpus statistics per row, a scan of the whole doclist each time; this costs one read of at
// most Depth rows. Ties go to the lower ins_seq.
func rankWithin(ctx context.Context, src Source, phrases [][]string, dfs []int, emb []Candidate) ([]int64, error) {
	seqs := make([]int64, len(emb))
	for i, c := range emb {
		seqs[i] = c.Seq
	}
	rs, err := src.RowsBySeq(ctx, seqs)
	if err != nil {
		return nil, err
	}
	type hit struct {
		seq   int64
		toks  []string
		score float64
	}
	hits := make([]hit, 0, len(rs))
	var total int
	for _, seq := range seqs {
		r, ok := rs[seq]
		if !ok {
			continue
		}
		toks := embed.Tokens(r.EmbedText())
		total += len(toks)
		hits = append(hits, hit{seq: seq, toks: toks})
	}
	if len(hits) == 0 {
		return nil, nil
	}
	avg := float64(total) / float64(len(hits))
	if avg == 0 {
		avg = 1
	}
	n := float64(max(len(hits), slices.Max(dfs)))
	out := hits[:0]
	for _, h := range hits {
		matched := false
		for i, p := range phrases {
			tf := float64(phraseCount(h.toks, p))
			if tf == 0 {
				continue
			}
			matched = true
			df := float64(dfs[i])
			idf := math.Log(1 + (n-df+0.5)/(df+0.5))
			h.score += idf * tf * (bm25K1 + 1) / (tf + bm25K1*(1-bm25B+bm25B*float64(len(h.toks))/avg))
		}
		if matched {
			out = append(out, h)
		}
	}
	slices.SortStableFunc(out, func(a, b hit) int {
		if a.score != b.score {
			return cmpDesc(a.score, b.score)
		}
		return cmpAsc(a.seq, b.seq)
	})
	ids := make([]int64, len(out))
	for i, h := range out {
		ids[i] = h.seq
	}
	return ids, nil
}

// phraseCount is how many times phrase occurs as consecutive tokens of toks.
func phraseCount(toks, phrase []string) int {
	n := 0
	for i := 0; i+len(phrase) <= len(toks); i++ {
		if slices.Equal(toks[i:i+len(phrase)], phrase) {
			n++
		}
	}
	return n
}

func cmpDesc(a, b float64) int {
	if a > b {
		return -1
	}
	return 1
}

func cmpAsc(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// build applies S-12…S-14 to ranked candidates (already cut to Limit) and reads their rows.
func build(ctx context.Context, src Source, q Query, cands []Candidate) (schema.SearchResult, error) {
	res := schema.SearchResult{Results: []schema.SearchHit{}}
	if len(cands) > q.Limit {
		cands = cands[:q.Limit]
	}
	seqs := make([]int64, len(cands))
	for i, c := range cands {
		seqs[i] = c.Seq
	}
	rs, err := src.RowsBySeq(ctx, seqs)
	if err != nil {
		return res, err
	}
	hybrid := q.Mode == ModeHybrid
	for _, c := range cands {
		r, ok := rs[c.Seq]
		if !ok {
			continue // replaced between the scan and the read: the next search sees the new row
		}
		score := embed.Round4(c.Score)
		if score < q.Floor && !q.IncludeWeak && !c.keyword {
			res.BelowFloor++
			continue
		}
		h := schema.SearchHit{Path: r.Path, Ref: r.Ref, Author: r.AuthoringInstance, IsCanon: r.IsCanon,
			Type: r.Type, Title: r.Title, Status: r.Status, Score: score, Preview: Preview(r.BodyText, PreviewLen)}
		if hybrid {
			h.Matched = []string{}
			if c.keyword {
				h.Matched = append(h.Matched, MatchedKeyword)
			}
			if c.embedding {
				h.Matched = append(h.Matched, MatchedEmbedding)
			}
		}
		res.Results = append(res.Results, h)
	}
	return res, nil
}

// Preview returns the first n characters (code points, as Python slices) of s.
func Preview(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
