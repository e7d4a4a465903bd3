package airlock

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/logkey"
	"github.com/stasima/stasima/services/airlock/internal/approval"
)

// startQueries registers stasima.airlock.q.* in the airlock queue group. A state read may
// revert an expired stage: that row is appended like a command's, under the query's own
// intent ids, and its airlock.reverted event is published before the answer.
func (s *Service) startQueries() error {
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        "airlock",
		Version:     "0.1.0",
		Description: "Stasima airlock queries",
		QueueGroup:  s.subj.QueueGroup(bus.Airlock),
	})
	if err != nil {
		return fmt.Errorf("airlock: queries: %w", err)
	}
	s.msvc = svc
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
	for name, fn := range endpoints {
		err := svc.AddEndpoint(name, micro.HandlerFunc(func(r micro.Request) {
			// Off the subscription goroutine: a query waits for the airlock mutex,
			// which a command may hold across a capstore land.
			go func() {
				tctx, done := s.tel.Query(bus.Airlock, name, nats.Header(r.Headers()))
				ctx, cancel := context.WithTimeout(tctx, s.cfg.RequestTimeout)
				defer cancel()
				c := newQueryCall()
				res, err := fn(withCall(ctx, c), c, r.Data())
				done(err)
				s.respond(r, name, res, err)
			}()
		}), micro.WithEndpointSubject(s.subj.Query(bus.Airlock, name)))
		if err != nil {
			return fmt.Errorf("airlock: endpoint %s: %w", name, err)
		}
	}
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

func (s *Service) respond(r micro.Request, name string, res any, err error) {
	_ = r.Respond(bus.QueryReply(s.log, name, res, err))
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
