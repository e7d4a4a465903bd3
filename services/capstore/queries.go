package capstore

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
)

// startQueries registers the stasima.capstore.q.* endpoints in the capstore queue group.
func (s *Service) startQueries() error {
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        "capstore",
		Version:     "0.1.0",
		Description: "Stasima git queries",
		QueueGroup:  s.subj.QueueGroup(bus.Capstore),
	})
	if err != nil {
		return fmt.Errorf("capstore: queries: %w", err)
	}
	s.msvc = svc
	endpoints := map[string]func([]byte) (any, error){
		schema.QPing: func([]byte) (any, error) { return map[string]bool{"ok": true}, nil },
		schema.QResolveRef: func(b []byte) (any, error) {
			var q schema.RefQuery
			return decodeThen(b, &q, func() (any, error) { return s.app.ResolveRef(q) })
		},
		schema.QReadBlob: func(b []byte) (any, error) {
			var q schema.BlobQuery
			return decodeThen(b, &q, func() (any, error) { return s.app.ReadBlob(q) })
		},
		schema.QListPaths: func(b []byte) (any, error) {
			var q schema.RefQuery
			return decodeThen(b, &q, func() (any, error) { return s.app.ListPaths(q) })
		},
		schema.QListRefs: func(b []byte) (any, error) {
			var q schema.ListRefsQuery
			return decodeThen(b, &q, func() (any, error) { return s.app.ListRefs(q) })
		},
		schema.QHistory: func(b []byte) (any, error) {
			var q schema.HistoryQuery
			return decodeThen(b, &q, func() (any, error) { return s.app.History(q) })
		},
		schema.QHolders: func(b []byte) (any, error) {
			var q schema.HoldersQuery
			return decodeThen(b, &q, func() (any, error) { return s.app.Holders(q) })
		},
		schema.QProposalInfo: func(b []byte) (any, error) {
			var q schema.ProposalQuery
			return decodeThen(b, &q, func() (any, error) { return s.app.ProposalInfo(q) })
		},
		schema.QCanonSeq:         func([]byte) (any, error) { return s.app.CanonSeq() },
		schema.QProposalStatuses: func([]byte) (any, error) { return s.app.ProposalStatuses() },
		schema.QCanonPositions: func(b []byte) (any, error) {
			var q schema.CanonPositionsQuery
			return decodeThen(b, &q, func() (any, error) { return s.app.CanonPositions(q) })
		},
		schema.QPreviewMerge: func(b []byte) (any, error) {
			var q schema.ProposalQuery
			return decodeThen(b, &q, func() (any, error) { return s.app.Preview(q) })
		},
		schema.QChangedPaths: func(b []byte) (any, error) {
			var q schema.ChangedPathsQuery
			return decodeThen(b, &q, func() (any, error) { return s.app.ChangedPaths(q) })
		},
		schema.QAnchorHead: func([]byte) (any, error) { return s.app.AnchorHead() },
		schema.QCommitOps:  func([]byte) (any, error) { return s.app.CommitOps() },
		schema.QPerf:       func([]byte) (any, error) { return s.app.Perf() },
	}
	for name, fn := range endpoints {
		fn := fn
		err := svc.AddEndpoint(name, micro.HandlerFunc(func(r micro.Request) {
			_, done := s.m.tel.Query(bus.Capstore, name, nats.Header(r.Headers()))
			res, err := fn(r.Data())
			done(err)
			_ = r.Respond(bus.QueryReply(s.log, name, res, err))
		}), micro.WithEndpointSubject(s.subj.Query(bus.Capstore, name)))
		if err != nil {
			return fmt.Errorf("capstore: endpoint %s: %w", name, err)
		}
	}
	return nil
}

func decodeThen(b []byte, q any, fn func() (any, error)) (any, error) {
	if len(b) > 0 {
		if err := json.Unmarshal(b, q); err != nil {
			return nil, fault.Wrap("capstore.query", fault.ArgumentError, err, "undecodable query")
		}
	}
	return fn()
}
