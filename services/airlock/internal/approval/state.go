package approval

import (
	"cmp"
	"context"
	"slices"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
)

// proposalFold is one proposal's state after the fold of A-12.
type proposalFold struct {
	phase Phase
	// stage is the detail of the proposal's last airlock_stage row while it is staged, and
	// still after a land that followed it (ResumeLand reads it); nil when open.
	stage detail
	// stageSeq is the seq of that airlock_stage row: the wrong land codes of this staging are
	// the totp_reject rows after it (lockOut).
	stageSeq int64
}

// logFold is the fold of the whole airlock part of the audit log.
type logFold struct {
	order []string // proposal ids by first appearance in airlock_stage rows
	byID  map[string]proposalFold
}

func (f logFold) of(pid string) proposalFold {
	if p, ok := f.byID[pid]; ok {
		return p
	}
	return proposalFold{phase: PhaseOpen}
}

// fold implements A-12 for every proposal at once: airlock_stage → staged, airlock_revert →
// open and land_merge of refs/cap/proposals/<pid> → landed (console lands count too), scanned
// in seq order. Nothing is kept outside the audit log.
func (s *Service) fold(ctx context.Context) (logFold, error) {
	var rows []Row
	for _, op := range [...]string{OpAirlockStage, OpAirlockRevert, OpLandMerge} {
		r, err := s.ledger.Rows(ctx, op)
		if err != nil {
			return logFold{}, err
		}
		rows = append(rows, r...)
	}
	slices.SortStableFunc(rows, func(a, b Row) int { return cmp.Compare(a.Seq, b.Seq) })

	f := logFold{byID: map[string]proposalFold{}}
	seen := map[string]bool{}
	for _, r := range rows {
		d := parseDetail(r.Detail)
		switch r.Op {
		case OpAirlockStage:
			pid := d.str("proposal")
			if !seen[pid] {
				seen[pid] = true
				f.order = append(f.order, pid)
			}
			f.byID[pid] = proposalFold{phase: PhaseStaged, stage: d, stageSeq: r.Seq}
		case OpAirlockRevert:
			f.byID[d.str("proposal")] = proposalFold{phase: PhaseOpen}
		case OpLandMerge:
			if pid, ok := refs.ProposalOf(d.str("proposal")); ok {
				prev := f.byID[pid]
				f.byID[pid] = proposalFold{phase: PhaseLanded, stage: prev.stage, stageSeq: prev.stageSeq}
			}
		}
	}
	return f, nil
}

// stageInfo reads a staging row with the current floor and ceiling.
func (s *Service) stageInfo(d detail) *StageInfo {
	at := d.float("staged_at")
	w, _ := d.window("window")
	return &StageInfo{
		StagedOID:    d.str("staged_oid"),
		StagedAt:     Seconds(at),
		Window:       w,
		ChangedPaths: d.strs("changed_paths"),
		LandsAfter:   Seconds(at + s.cfg.Floor.Seconds()),
		ExpiresAt:    Seconds(at + s.cfg.Ceiling.Seconds()),
	}
}

// settle turns a folded state into the reported one, applying the lazy TTL of A-13: a stage
// older than the ceiling (strictly, A-63) is reverted now, with its row and event.
func (s *Service) settle(ctx context.Context, pid string, p proposalFold, evs *[]Event) (State, error) {
	if p.phase != PhaseStaged {
		return State{Phase: p.phase}, nil
	}
	info := s.stageInfo(p.stage)
	if now := s.nowSeconds(); now-float64(info.StagedAt) <= s.cfg.Ceiling.Seconds() {
		return State{Phase: PhaseStaged, Staging: info}, nil
	}
	if err := s.record(ctx, Record{Actor: ActorSystem, Op: OpAirlockRevert, TargetRef: refs.Proposal(pid),
		Detail: encodeDetail(revertDetail{Proposal: pid, Reason: ReasonTTL, StagedOID: info.StagedOID})}); err != nil {
		return State{}, err
	}
	*evs = append(*evs, Reverted{ProposalID: pid, Reason: ReasonTTL})
	s.log.Info("stage expired", keyProposal, pid, keyOID, info.StagedOID)
	return State{Phase: PhaseOpen, Reverted: ReasonTTL}, nil
}

// state is A-12 + A-13 for one proposal; the caller holds the mutex.
func (s *Service) state(ctx context.Context, pid string, evs *[]Event) (State, error) {
	f, err := s.fold(ctx)
	if err != nil {
		return State{}, err
	}
	return s.settle(ctx, pid, f.of(pid), evs)
}

// stagedEntry is a currently staged proposal.
type stagedEntry struct {
	pid  string
	info *StageInfo
	seq  int64 // of the airlock_stage row
}

// staged is A-60; the caller holds the mutex. Expired stages are reverted on the way.
func (s *Service) staged(ctx context.Context, evs *[]Event) ([]stagedEntry, error) {
	f, err := s.fold(ctx)
	if err != nil {
		return nil, err
	}
	var out []stagedEntry
	for _, pid := range f.order {
		st, err := s.settle(ctx, pid, f.of(pid), evs)
		if err != nil {
			return out, err
		}
		if st.Phase == PhaseStaged {
			out = append(out, stagedEntry{pid: pid, info: st.Staging, seq: f.of(pid).stageSeq})
		}
	}
	return out, nil
}

// State returns the airlock state of proposal pid (A-12…A-14), stasima.airlock.q.state. A
// stage past its ceiling is reverted by this read; its event is returned.
func (s *Service) State(ctx context.Context, pid string) (State, []Event, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return State{}, nil, err
	}
	defer unlock()
	var evs []Event
	st, err := s.state(ctx, pid, &evs)
	return st, evs, err
}

// Staged lists the currently staged proposals, stasima.airlock.q.staged and the CLI's
// status. Expired stages are reverted by this read; their events are returned.
func (s *Service) Staged(ctx context.Context) ([]StagedProposal, []Event, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	var evs []Event
	entries, err := s.staged(ctx, &evs)
	if err != nil {
		return nil, evs, err
	}
	out := make([]StagedProposal, 0, len(entries))
	for _, e := range entries {
		out = append(out, StagedProposal{ProposalID: e.pid, StagedOID: e.info.StagedOID,
			StagedAt: e.info.StagedAt, LandsAfter: e.info.LandsAfter, ExpiresAt: e.info.ExpiresAt})
	}
	return out, evs, nil
}

// CheckWritable is the frozen gate of C-prop-5 / A-20 for the seat writes propose,
// propose_retract and propose_close (op names the tool): a staged proposal refuses with Denied
// naming the proposal and "frozen for review" (T-propose-5), no row. Evaluating it may revert
// an expired stage, whose event is returned. Console land and close do not ask.
func (s *Service) CheckWritable(ctx context.Context, op, pid string) ([]Event, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var evs []Event
	st, err := s.state(ctx, pid, &evs)
	if err != nil {
		return evs, err
	}
	if st.Phase == PhaseStaged {
		return evs, fault.E(op+".frozen", fault.Denied,
			"proposal %s is frozen for review: the airlock staged candidate %s, so %s is refused until "+
				"the practitioner lands it or reverts it with stage_revert", pid, st.Staging.StagedOID, op)
	}
	return evs, nil
}
