package indexer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/indexer/internal/ranking"
)

// DefaultSearchLimit is map_search's limit when the request names none.
const DefaultSearchLimit = 10

// maxAwait caps one barrier wait; DefaultAwait is the wait when the request names none.
const (
	maxAwait     = time.Minute
	DefaultAwait = 10 * time.Second
)

// startQueries serves stasima.index.q.* in the index queue group. Each request runs on a
// goroutine of its own, so a waiting await never stalls the other queries.
func (s *Service) startQueries() error {
	endpoints := map[string]func(context.Context, []byte) (any, error){
		schema.QIndexEnvelopesFor: func(ctx context.Context, b []byte) (any, error) {
			var q schema.RefQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			return s.store.EnvelopesUnder(ctx, q.Ref, q.Under)
		},
		schema.QIndexSearch: func(ctx context.Context, b []byte) (any, error) {
			var q schema.SearchQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			return s.Search(ctx, q)
		},
		schema.QIndexAuthorsOf: func(ctx context.Context, b []byte) (any, error) {
			var q schema.PathQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			return s.AuthorsOf(ctx, q.Path)
		},
		schema.QIndexAuthorsOfBody: func(ctx context.Context, b []byte) (any, error) {
			var q schema.BodyQuery
			if err := decode(b, &q); err != nil {
				return nil, err
			}
			return s.AuthorsOfBody(ctx, q.Body)
		},
		schema.QIndexWatermark: func(context.Context, []byte) (any, error) {
			return schema.WatermarkAnswer{StreamSeq: s.mark.get()}, nil
		},
		schema.QIndexAwait: func(_ context.Context, b []byte) (any, error) { return s.await(b) },
	}
	for name, fn := range s.scryEndpoints() {
		endpoints[name] = fn
	}
	tbl := make(bus.Queries, len(endpoints))
	for name, fn := range endpoints {
		tbl[name] = func(ctx context.Context, r bus.Request) (any, error) { return fn(ctx, r.Data) }
	}
	r, err := bus.ServeQueries(s.nc, s.subj, s.log, s.tel, bus.QueriesConfig{Service: bus.Index, Timeout: time.Minute, Concurrency: s.cfg.QueryConcurrency,
		Caps: map[string]int{schema.QIndexAwait: 4 * bus.DefaultQueryConcurrency}}, tbl)
	if err != nil {
		return fmt.Errorf("indexer: queries: %w", err)
	}
	s.queries = r
	return nil
}

// Search answers map_search in the configured search_mode (S-10…S-15 in embedding mode,
// keyword ∪ embedding in hybrid mode) with search_score_floor, else the embedder's floor.
func (s *Service) Search(ctx context.Context, q schema.SearchQuery) (schema.SearchResult, error) {
	vec, err := s.emb.EmbedQuery(ctx, q.Query)
	if err != nil {
		return schema.SearchResult{}, fault.Wrap("index.search", fault.BackendUnavailable, err, "embed query")
	}
	limit := DefaultSearchLimit
	if q.Limit != nil {
		limit = *q.Limit
	}
	floor := s.emb.DefaultFloor()
	if s.cfg.ScoreFloor != nil {
		floor = *s.cfg.ScoreFloor
	}
	mode := s.cfg.SearchMode
	if mode == "" {
		mode = ranking.ModeHybrid
	}
	return s.store.Search(ctx, ranking.Query{
		Mode: mode, Text: q.Query, Vector: vec, InstanceID: q.InstanceID, Scope: q.Scope, Type: q.Type,
		IncludeSuperseded: q.IncludeSuperseded, IncludeWeak: q.IncludeWeak,
		Limit: limit, Floor: floor,
	})
}

// AuthorsOf is S-50: the sorted distinct non-empty authors of rows at exactly path, any ref.
func (s *Service) AuthorsOf(ctx context.Context, path string) (schema.AuthorsAnswer, error) {
	return LookupAuthorsOf(ctx, s.store, path)
}

// AuthorsOfBody is S-52: for each non-empty author, the first row (ins_seq ascending) whose
// body_text stripped of " \n\r\t" equals body stripped of Python whitespace.
func (s *Service) AuthorsOfBody(ctx context.Context, body string) (schema.BodyAuthorsAnswer, error) {
	return LookupAuthorsOfBody(ctx, s.store, body)
}

// await is the ARCH-7 barrier: it answers once stream_seq is applied (at once when it is
// already), else fails BackendUnavailable at the timeout, saying the wait did not complete.
func (s *Service) await(b []byte) (any, error) {
	var q schema.IndexAwaitQuery
	if err := decode(b, &q); err != nil {
		return nil, err
	}
	timeout := time.Duration(q.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = DefaultAwait
	}
	timeout = min(timeout, maxAwait)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cur, err := s.mark.wait(ctx, q.StreamSeq)
	if err != nil {
		return nil, fault.E("index.await", fault.BackendUnavailable,
			"event %d not indexed within %s (applied up to %d): the index barrier did NOT complete", q.StreamSeq, timeout, cur)
	}
	return schema.WatermarkAnswer{StreamSeq: cur}, nil
}

func decode(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fault.Wrap("index.query", fault.ArgumentError, err, "undecodable query")
	}
	return nil
}
