package airlock

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/services/airlock/internal/approval"
)

// startQueries serves stasima.airlock.q.* in the airlock queue group. A state read may
// revert an expired stage: that row is appended like a command's, under the query's own
// intent ids, and its airlock.reverted event is published before the answer.
func (s *Service) startQueries() error {
	endpoints := map[string]func(context.Context, *call, []byte) (any, error){
		QState: func(ctx context.Context, c *call, b []byte) (any, error) {
			var q ProposalQuery
			if err := decodeQuery(b, &q); err != nil {
				return nil, err
			}
			if q.ProposalID == "" {
				return nil, fault.E("airlock.state", fault.ArgumentError, "proposal_id is required")
			}
			st, evs, err := s.m.State(ctx, q.ProposalID)
			s.publishQueryEvents(ctx, c, evs)
			return stateOf(st), err
		},
		QStaged: func(ctx context.Context, c *call, _ []byte) (any, error) {
			list, evs, err := s.m.Staged(ctx)
			s.publishQueryEvents(ctx, c, evs)
			out := StagedList{Staged: make([]StagedProposal, 0, len(list))}
			for _, p := range list {
				out.Staged = append(out.Staged, StagedProposal{ProposalID: p.ProposalID, StagedOID: p.StagedOID,
					StagedAt: p.StagedAt, LandsAfter: p.LandsAfter, ExpiresAt: p.ExpiresAt})
			}
			return out, err
		},
		QCheckWritable: func(ctx context.Context, c *call, b []byte) (any, error) {
			var q CheckWritable
			if err := decodeQuery(b, &q); err != nil {
				return nil, err
			}
			if q.ProposalID == "" || q.Op == "" {
				return nil, fault.E("airlock.check_writable", fault.ArgumentError, "op and proposal_id are required")
			}
			evs, err := s.m.CheckWritable(ctx, q.Op, q.ProposalID)
			s.publishQueryEvents(ctx, c, evs)
			return Writable{Writable: err == nil}, err
		},
		QTOTPCheck: func(_ context.Context, _ *call, b []byte) (any, error) {
			var q TOTPCheck
			if err := decodeQuery(b, &q); err != nil {
				return nil, err
			}
			d, err := s.m.CheckCode(q.Code)
			return Diagnosis{Valid: d.Valid, MatchedWindow: d.MatchedWindow, CurrentWindow: d.CurrentWindow,
				Skew: d.Skew, Note: d.Note}, err
		},
	}
	// Each request runs on a goroutine of its own: a query waits for the airlock mutex,
	// which a command may hold across a capstore land.
	tbl := make(bus.Queries, len(endpoints))
	for name, fn := range endpoints {
		tbl[name] = func(ctx context.Context, r bus.Request) (any, error) {
			c := newQueryCall()
			return fn(withCall(ctx, c), c, r.Data)
		}
	}
	r, err := bus.ServeQueries(s.nc, s.subj, s.log, s.tel, bus.QueriesConfig{Service: bus.Airlock, Timeout: s.cfg.RequestTimeout,
		Concurrency: s.cfg.QueryConcurrency}, tbl)
	if err != nil {
		return fmt.Errorf("airlock: queries: %w", err)
	}
	s.queries = r
	return nil
}

// publishQueryEvents publishes the events of rows a query appended. The row is the fact; a
// lost event is logged, and the answer still goes out.
func (s *Service) publishQueryEvents(ctx context.Context, c *call, evs []approval.Event) {
	if len(evs) == 0 {
		return
	}
	if err := s.publish(ctx, c.session, s.events(c, evs)); err != nil {
		s.log.Warn("event publish failed", logkey.Err, err)
	}
}

func decodeQuery(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fault.Wrap("airlock.query", fault.ArgumentError, err, "undecodable query")
	}
	return nil
}
