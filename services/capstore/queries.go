package capstore

import (
	"context"
	"fmt"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/schema"
)

// startQueries serves the stasima.capstore.q.* endpoints in the capstore queue group, each on
// its subscription goroutine.
func (s *Service) startQueries() error {
	none := func(fn func() (any, error)) bus.QueryHandler {
		return func(context.Context, bus.Request) (any, error) { return fn() }
	}
	tbl := bus.Queries{
		schema.QPing: none(func() (any, error) { return map[string]bool{"ok": true}, nil }),
		schema.QResolveRef: bus.Query(func(_ context.Context, q schema.RefQuery) (any, error) {
			return s.app.ResolveRef(q)
		}),
		schema.QReadBlob:  bus.Query(func(_ context.Context, q schema.BlobQuery) (any, error) { return s.app.ReadBlob(q) }),
		schema.QReadBlobs: bus.Query(func(_ context.Context, q schema.BlobsQuery) (any, error) { return s.app.ReadBlobs(q) }),
		schema.QListPaths: bus.Query(func(_ context.Context, q schema.RefQuery) (any, error) {
			return s.app.ListPaths(q)
		}),
		schema.QListRefs: bus.Query(func(_ context.Context, q schema.ListRefsQuery) (any, error) {
			return s.app.ListRefs(q)
		}),
		schema.QHistory: bus.Query(func(_ context.Context, q schema.HistoryQuery) (any, error) { return s.app.History(q) }),
		schema.QHolders: bus.Query(func(_ context.Context, q schema.HoldersQuery) (any, error) { return s.app.Holders(q) }),
		schema.QProposalInfo: bus.Query(func(_ context.Context, q schema.ProposalQuery) (any, error) {
			return s.app.ProposalInfo(q)
		}),
		schema.QCanonSeq:         none(func() (any, error) { return s.app.CanonSeq() }),
		schema.QProposalStatuses: none(func() (any, error) { return s.app.ProposalStatuses() }),
		schema.QCanonPositions: bus.Query(func(_ context.Context, q schema.CanonPositionsQuery) (any, error) {
			return s.app.CanonPositions(q)
		}),
		schema.QPreviewMerge: bus.Query(func(_ context.Context, q schema.ProposalQuery) (any, error) { return s.app.Preview(q) }),
		schema.QProposalSummaries: bus.Query(func(_ context.Context, q schema.ProposalSummariesQuery) (any, error) {
			return s.app.ProposalSummaries(q)
		}),
		schema.QRefTips: bus.Query(func(_ context.Context, q schema.ListRefsQuery) (any, error) { return s.app.RefTips(q) }),
		schema.QChangedPaths: bus.Query(func(_ context.Context, q schema.ChangedPathsQuery) (any, error) {
			return s.app.ChangedPaths(q)
		}),
		schema.QAnchorHead: none(func() (any, error) { return s.app.AnchorHead() }),
		schema.QCommitOps:  none(func() (any, error) { return s.app.CommitOps() }),
		schema.QPerf:       none(func() (any, error) { return s.app.Perf() }),
	}
	r, err := bus.ServeQueries(s.nc, s.subj, s.log, s.m.tel, bus.QueriesConfig{Service: bus.Capstore, Inline: true, Concurrency: s.cfg.QueryConcurrency}, tbl)
	if err != nil {
		return fmt.Errorf("capstore: queries: %w", err)
	}
	s.queries = r
	return nil
}
