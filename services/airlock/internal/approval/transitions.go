package approval

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
)

// minPrefix is the shortest staged-oid prefix land_approve accepts.
const minPrefix = 8

// Stage implements stage_approve (A-30…A-35), stasima.airlock.cmd.stage: code 1 freezes the
// proposal on a prepared candidate and starts the review clock.
//
// Order matters: the state check, the merge preparation and the log-entry
// validation all run before the code is looked at, so a proposal that cannot land never
// burns a window. Their errors (AirlockError, RefNotFound, MergeConflict, CanonAppendOnly,
// ValidationError) are returned unchanged.
func (s *Service) Stage(ctx context.Context, pid, code string) (Staged, []Event, error) {
	const op = "airlock.stage"
	unlock, err := s.lock(ctx)
	if err != nil {
		return Staged{}, nil, err
	}
	defer unlock()
	var evs []Event

	// While the failure budget's lock holds nothing is prepared and no row is written: a
	// flood costs neither capstore work nor log rows.
	if err := s.checkLock(ctx, &evs); err != nil {
		return Staged{}, evs, err
	}
	st, err := s.state(ctx, pid, &evs)
	if err != nil {
		return Staged{}, evs, err
	}
	if st.Phase == PhaseStaged {
		return Staged{}, evs, fault.E(op, fault.AirlockError, "%s is already staged", pid)
	}
	ref := refs.Proposal(pid)
	cand, err := s.cands.Prepare(ctx, ref, s.cfg.CanonRef) // A-31; A-36: closed proposals too
	if err != nil {
		return Staged{}, evs, err
	}
	if !isOID(cand.OID) {
		return Staged{}, evs, fault.E(op, fault.Internal, "prepare returned candidate %q, not a 40-hex oid", cand.OID)
	}
	seq, err := s.cands.Validate(ctx, cand)
	if err != nil {
		return Staged{}, evs, err
	}
	if err := s.stageLockOut(ctx, pid, &evs); err != nil {
		return Staged{}, evs, err
	}
	w, err := s.consume(ctx, code, PurposeStage, pid, nil, &evs)
	if err != nil {
		return Staged{}, evs, err
	}

	now := s.nowSeconds()
	stagedAt := Seconds(now) // float seconds
	paths := slices.Clone(cand.ChangedPaths)
	if paths == nil {
		paths = []string{}
	}
	slices.Sort(paths) // sorted(adds + modifies)
	if err := s.record(ctx, Record{Actor: ActorPractitioner, Op: OpAirlockStage, TargetRef: ref, ResultOID: cand.OID,
		Detail: encodeDetail(stageDetail{Proposal: pid, StagedOID: cand.OID, Window: w, StagedAt: stagedAt,
			Seq: seq, ChangedPaths: paths})}); err != nil {
		return Staged{}, evs, err
	}
	res := Staged{
		ProposalID:   pid,
		StagedOID:    cand.OID,
		StagedAt:     stagedAt,
		LandsAfter:   Seconds(now + s.cfg.Floor.Seconds()),
		ExpiresAt:    Seconds(now + s.cfg.Ceiling.Seconds()),
		ChangedPaths: paths,
		LogSeq:       seq,
	}
	evs = append(evs, res)
	s.log.Info("proposal staged", keyProposal, pid, keyOID, cand.OID, keyWindow, w)
	return res, evs, nil
}

// Land implements land_approve (A-40…A-47), stasima.airlock.cmd.land: code 2, from a window
// strictly later than the staging one, after the review floor and before the ceiling, lands
// exactly the staged candidate named by its oid prefix (content binding, A-64).
//
// The prefix, match and floor gates (A-40…A-44) run before the code is looked at, so a miss
// never burns a window. Once the code is consumed a failing land (ValidationError,
// StaleRef: canon moved since staging) leaves the code spent and the proposal staged.
func (s *Service) Land(ctx context.Context, prefix, code string) (LandResult, []Event, error) {
	const op = "airlock.land"
	unlock, err := s.lock(ctx)
	if err != nil {
		return LandResult{}, nil, err
	}
	defer unlock()
	var evs []Event

	if err := s.checkLock(ctx, &evs); err != nil {
		return LandResult{}, evs, err
	}
	if utf8.RuneCountInString(prefix) < minPrefix {
		return LandResult{}, evs, fault.E(op+".prefix", fault.AirlockError,
			"staged oid prefix %q is too short — give at least %d hex characters", prefix, minPrefix)
	}
	all, err := s.staged(ctx, &evs) // may revert expired stages
	if err != nil {
		return LandResult{}, evs, err
	}
	var matches []stagedEntry
	for _, e := range all {
		if strings.HasPrefix(e.info.StagedOID, prefix) { // case-sensitive
			matches = append(matches, e)
		}
	}
	switch {
	case len(matches) == 0:
		return LandResult{}, evs, fault.E(op+".binding", fault.AirlockError,
			"no staged proposal matches oid prefix %q (content-binding)", prefix)
	case len(matches) > 1:
		return LandResult{}, evs, fault.E(op+".binding", fault.AirlockError,
			"oid prefix %q is ambiguous across staged proposals — give more characters", prefix)
	}
	m := matches[0]
	now := s.nowSeconds()
	if elapsed := now - float64(m.info.StagedAt); elapsed < s.cfg.Floor.Seconds() {
		return LandResult{}, evs, fault.E(op+".floor", fault.AirlockError,
			"review floor not met: %.0fs since staging, floor is %ss — review, then retry with a fresh code",
			elapsed, seconds(s.cfg.Floor))
	}
	if err := s.lockOut(ctx, m, &evs); err != nil {
		return LandResult{}, evs, err
	}
	w2, err := s.consume(ctx, code, PurposeLand, m.pid, &m.info.Window, &evs)
	if err != nil {
		return LandResult{}, evs, err
	}
	// the prepared merge is rebuilt from the stage row; the candidate commit written at
	// stage is what lands, byte for byte.
	cand := Candidate{OID: m.info.StagedOID, Into: s.cfg.CanonRef, ProposalRef: refs.Proposal(m.pid),
		ChangedPaths: m.info.ChangedPaths}
	appr := LandApproval{CandidateOID: m.info.StagedOID, ApprovedBy: s.approver,
		Evidence: fmt.Sprintf("airlock-totp-w%d", w2)}
	res, err := s.cands.Land(ctx, cand, appr)
	if err != nil {
		s.log.Info("staged land failed", keyProposal, m.pid, keyOID, m.info.StagedOID, keyWindow, w2)
		return LandResult{}, evs, unbound(op, m.pid, m.info.StagedOID, err)
	}
	evs = append(evs, Landed{ProposalID: m.pid, StagedOID: m.info.StagedOID, Landed: res.Landed, Seq: res.Seq})
	s.log.Info("proposal landed", keyProposal, m.pid, keyOID, res.Landed, keyWindow, w2)
	return res, evs, nil
}

// Revert implements stage_revert (A-50…A-52), stasima.airlock.cmd.revert: it never takes a
// code, because declining must cost nothing. The proposal's entries are untouched.
func (s *Service) Revert(ctx context.Context, pid string) (RevertResult, []Event, error) {
	const op = "airlock.revert"
	unlock, err := s.lock(ctx)
	if err != nil {
		return RevertResult{}, nil, err
	}
	defer unlock()
	var evs []Event

	st, err := s.state(ctx, pid, &evs) // after A-13
	if err != nil {
		return RevertResult{}, evs, err
	}
	if st.Phase != PhaseStaged {
		return RevertResult{}, evs, fault.E(op, fault.AirlockError, "%s is not staged", pid)
	}
	if err := s.record(ctx, Record{Actor: ActorSystem, Op: OpAirlockRevert, TargetRef: refs.Proposal(pid),
		Detail: encodeDetail(revertDetail{Proposal: pid, Reason: ReasonManual})}); err != nil {
		return RevertResult{}, evs, err
	}
	evs = append(evs, Reverted{ProposalID: pid, Reason: ReasonManual})
	s.log.Info("stage reverted", keyProposal, pid, keyOID, st.Staging.StagedOID)
	return RevertResult{ProposalID: pid, State: PhaseOpen}, evs, nil
}

// MaxWrongLandCodes is how many wrong land codes one staging of a proposal takes (issue #5).
// Past it the proposal's airlock refuses every land code, right or wrong, until the proposal is
// reverted (by stage_revert or the TTL) and staged again with fresh codes. Five guesses at a
// 6-digit code over three accepted windows succeed with probability about 1.5·10⁻⁵.
const MaxWrongLandCodes = 5

// MaxWrongStageCodes is how many wrong stage codes one proposal takes before its airlock
// refuses stage codes for the failure budget's LockFor (15 minutes by default); the count
// starts again after an accepted stage code or the end of such a lock.
const MaxWrongStageCodes = 5

// lockOut refuses a land on staged proposal m once MaxWrongLandCodes wrong land codes were
// refused for it since its airlock_stage row. The count is folded from the totp_reject rows
// (purpose land, object m.pid, seq after the stage row; reasons invalid, not strictly later and
// replay), so it survives restarts and nothing is kept outside the audit log; the read
// is indexed and takes at most MaxWrongLandCodes rows, which are all misses when there are that
// many, since the first refusal row follows the last counted miss. The refusal itself appends a
// totp_reject row {purpose, object, misses, reason:"too many wrong codes"} and never looks at
// the code, so it tells nothing about it.
func (s *Service) lockOut(ctx context.Context, m stagedEntry, evs *[]Event) error {
	const op = "airlock.land.attempts"
	rows, err := s.ledger.Find(ctx, Query{Op: OpTOTPReject, Purpose: string(PurposeLand), Object: m.pid,
		AfterSeq: m.seq, Limit: MaxWrongLandCodes})
	if err != nil {
		return err
	}
	misses := 0
	for _, r := range rows {
		switch parseDetail(r.Detail).str("reason") {
		case RejectInvalid, RejectNotLater, RejectReplay:
			misses++
		}
	}
	if misses < MaxWrongLandCodes {
		return nil
	}
	if err := s.reject(ctx, rejectDetail{Purpose: PurposeLand, Object: m.pid, Misses: &misses, Reason: RejectLocked}, evs); err != nil {
		return err
	}
	return fault.E(op, fault.AirlockError,
		"proposal %s took %d wrong land codes since it was staged (at most %d): its airlock refuses every land code "+
			"until it is reverted — run stage_revert %s, then stage it again with fresh codes",
		m.pid, misses, MaxWrongLandCodes, m.pid)
}

// stageLockOut refuses a stage code for proposal pid, without looking at it, once the proposal
// took MaxWrongStageCodes wrong stage codes since its last accepted stage code or the end of
// its last such lock. The refusal that starts a lock appends a totp_reject row {purpose, object,
// misses, until, reason:"too many wrong codes"}; while it holds, refusals append nothing, so
// junk against a locked proposal does not grow the log. The count is folded from at most
// MaxWrongStageCodes of the proposal's newest stage rejects (indexed reads), so it survives
// restarts.
func (s *Service) stageLockOut(ctx context.Context, pid string, evs *[]Event) error {
	const op = "airlock.stage.attempts"
	accepted, err := s.ledger.Find(ctx, Query{Op: OpTOTPAccept, Purpose: string(PurposeStage), Object: pid, Limit: 1, Desc: true})
	if err != nil {
		return err
	}
	var after int64
	if len(accepted) > 0 {
		after = accepted[0].Seq
	}
	rows, err := s.ledger.Find(ctx, Query{Op: OpTOTPReject, Purpose: string(PurposeStage), Object: pid,
		AfterSeq: after, Limit: MaxWrongStageCodes, Desc: true})
	if err != nil {
		return err
	}
	now := s.nowSeconds()
	misses := 0
	var until Seconds
	for _, r := range rows {
		d := parseDetail(r.Detail)
		if d.str("reason") != RejectLocked {
			misses++
			continue
		}
		if at := d.float("until"); now < at { // a lock that holds
			n, _ := d.window("misses")
			misses, until = int(n), Seconds(at)
		}
		break // a lock that ended starts the count again
	}
	if until == 0 {
		if misses < MaxWrongStageCodes {
			return nil
		}
		until = Seconds(now + s.cfg.LockFor.Seconds())
		if err := s.reject(ctx, rejectDetail{Purpose: PurposeStage, Object: pid, Misses: &misses, Until: &until,
			Reason: RejectLocked}, evs); err != nil {
			return err
		}
	}
	return fault.E(op, fault.AirlockError,
		"proposal %s took %d wrong stage codes (at most %d): its airlock refuses stage codes until %s — "+
			"then stage it with a fresh code",
		pid, misses, MaxWrongStageCodes, time.Unix(int64(until), 0).UTC().Format(time.RFC3339))
}

// unbound turns capstore's refusal of a staged candidate that no longer binds (ErrUnbound) into
// the airlock's content-binding refusal; other errors pass unchanged. The code is
// spent and the proposal stays staged either way.
func unbound(op, pid, staged string, err error) error {
	if !errors.Is(err, ErrUnbound) {
		return err
	}
	return fault.Wrap(op+".binding", fault.AirlockError, err,
		"staged candidate %s no longer binds proposal %s (content-binding): the proposal or canon changed since "+
			"staging, so what was reviewed is not what would land — the code is spent; run stage_revert %s and stage again",
		staged, pid, pid)
}

// isOID reports whether s is a 40-character lowercase SHA-1 hex oid (CONV-4).
func isOID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ResumeLand finishes a land_approve whose code an earlier delivery of the same command already
// consumed (its totp_accept row for purpose land, window w and object pid exists) and which then
// died before it replied (ARCH-12). Running Land again would refuse that window as a replay, so
// the resumption skips the gates the first delivery passed (A-40…A-45) and lands the staged
// candidate with the evidence of w. capstore's land recognises a land it already made and
// answers it again (O-land-10), so a land that reached canon before the crash is not repeated.
//
// A proposal reverted since refuses with AirlockError "<pid> is not staged"; one landed at the
// console without a stage refuses the same way. No row is appended here.
func (s *Service) ResumeLand(ctx context.Context, pid string, w int64) (LandResult, []Event, error) {
	const op = "airlock.land"
	unlock, err := s.lock(ctx)
	if err != nil {
		return LandResult{}, nil, err
	}
	defer unlock()
	f, err := s.fold(ctx)
	if err != nil {
		return LandResult{}, nil, err
	}
	p := f.of(pid)
	if p.phase == PhaseOpen || p.stage == nil {
		return LandResult{}, nil, fault.E(op, fault.AirlockError, "%s is not staged", pid)
	}
	info := s.stageInfo(p.stage)
	cand := Candidate{OID: info.StagedOID, Into: s.cfg.CanonRef, ProposalRef: refs.Proposal(pid),
		ChangedPaths: info.ChangedPaths}
	appr := LandApproval{CandidateOID: info.StagedOID, ApprovedBy: s.approver,
		Evidence: fmt.Sprintf("airlock-totp-w%d", w)}
	res, err := s.cands.Land(ctx, cand, appr)
	if err != nil {
		return LandResult{}, nil, unbound(op, pid, info.StagedOID, err)
	}
	s.log.Info("proposal landed on redelivery", keyProposal, pid, keyOID, res.Landed, keyWindow, w)
	return res, []Event{Landed{ProposalID: pid, StagedOID: info.StagedOID, Landed: res.Landed, Seq: res.Seq}}, nil
}
