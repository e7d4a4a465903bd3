package approval

import (
	"context"
	"errors"
	"fmt"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/airlock/internal/totp"
)

// loadSecret reads the secret that verifies codes for purpose. No row is written for a
// missing secret.
func (s *Service) loadSecret(op string, src SecretSource) (totp.Secret, error) {
	sec, err := src.Load()
	switch {
	case errors.Is(err, totp.ErrNotProvisioned):
		return totp.Secret{}, fault.E(op, fault.AirlockError,
			"airlock not provisioned — run: stasima admin totp-provision")
	case err != nil:
		// The operator's problem (a corrupt or unreadable file), not the caller's: Internal
		// keeps the detail off the wire.
		return totp.Secret{}, fault.Wrap(op, fault.Internal, err, "totp secret unusable")
	}
	return sec, nil
}

// consume implements A-6…A-10: verify code at the current time, check the window against
// minWindow (land only) and the consume-once ledger, then record it as accepted for purpose on
// object (the proposal id). The caller holds the mutex, so the check and the append are one
// step. A refusal appends its totp_reject row first, burns nothing and counts against
// the failure budget; while the budget's lock holds, the code is not looked at.
func (s *Service) consume(ctx context.Context, code string, purpose Purpose, object string, minWindow *int64, evs *[]Event) (int64, error) {
	const op = "airlock.consume"
	src := s.secret
	if purpose == PurposeLand {
		src = s.landSecret
	}
	sec, err := s.loadSecret(op, src)
	if err != nil {
		return 0, err
	}
	if err := s.checkLock(ctx, evs); err != nil {
		return 0, err
	}
	w, ok := totp.Verify(sec, code, s.now())
	if !ok {
		if err := s.reject(ctx, rejectDetail{Purpose: purpose, Object: object, Reason: RejectInvalid}, evs); err != nil {
			return 0, err
		}
		return 0, fault.E(op, fault.AirlockError, "invalid code")
	}
	if minWindow != nil && w <= *minWindow {
		minW := *minWindow
		if err := s.reject(ctx, rejectDetail{Purpose: purpose, Object: object, Window: &w, MinWindow: &minW,
			Reason: RejectNotLater}, evs); err != nil {
			return 0, err
		}
		return 0, fault.E(op, fault.AirlockError,
			"code is from window %d, which is not strictly later than the staging window %d — wait for a fresh code",
			w, minW)
	}
	used, err := s.windowUsed(ctx, w)
	if err != nil {
		return 0, err
	}
	if used != "" { // A-9, stricter: one use for all purposes
		if err := s.reject(ctx, rejectDetail{Purpose: purpose, Object: object, Window: &w, Reason: RejectReplay}, evs); err != nil {
			return 0, err
		}
		return 0, fault.E(op, fault.AirlockError,
			"a code from window %d was already used %s, so it cannot %s %s (consume-once: a window consumed for "+
				"any purpose is consumed for all) — wait for a fresh code", w, used, purpose, object)
	}
	// the window, never the code.
	if err := s.record(ctx, Record{Actor: ActorPractitioner, Op: OpTOTPAccept,
		Detail: encodeDetail(acceptDetail{Window: w, Purpose: purpose, Object: object})}); err != nil {
		return 0, err
	}
	s.log.Info("totp window accepted", keyPurpose, string(purpose), keyProposal, object, keyWindow, w)
	return w, nil
}

// reject appends a totp_reject row for a wrong code and counts it against the failure budget.
func (s *Service) reject(ctx context.Context, d rejectDetail, evs *[]Event) error {
	if err := s.record(ctx, Record{Actor: ActorSystem, Op: OpTOTPReject, Detail: encodeDetail(d)}); err != nil {
		return err
	}
	attrs := []any{keyPurpose, string(d.Purpose), keyProposal, d.Object, keyReason, d.Reason}
	if d.Window != nil {
		attrs = append(attrs, keyWindow, *d.Window)
	}
	s.log.Info("totp code refused", attrs...)
	if d.Reason == RejectLocked { // the code was not looked at
		return nil
	}
	return s.failed(ctx, evs)
}

// windowUsed reports how window w was consumed, or "" when it was not: a totp_accept row with
// that window for any purpose, or (D-5) an oauth_approve row with that window. A window
// consumed for one purpose is consumed for all — stage, land and the door — which is stricter
// than A-9's one use per purpose: the seat relaying a stage code is the party the airlock
// guards against, and must not be able to reuse it to land another proposal. Both reads are
// indexed and return at most one row.
func (s *Service) windowUsed(ctx context.Context, w int64) (string, error) {
	accepts, err := s.ledger.Find(ctx, Query{Op: OpTOTPAccept, Window: &w, Limit: 1})
	if err != nil {
		return "", err
	}
	if len(accepts) > 0 {
		d := parseDetail(accepts[0].Detail)
		return fmt.Sprintf("to %s %s", d.str("purpose"), d.str("object")), nil
	}
	// Console grants carry no window and never match.
	approves, err := s.ledger.Find(ctx, Query{Op: OpOAuthApprove, Window: &w, Limit: 1})
	if err != nil {
		return "", err
	}
	if len(approves) > 0 {
		return "at the OAuth door", nil
	}
	return "", nil
}

// VerifyDoor implements stasima.airlock.cmd.totp_verify for the OAuth approve page (A-72,
// identity.md I-65): it verifies code and, when its window is unused by any airlock purpose and
// by any earlier door approval, appends oauth_approve {client_id, channel:"totp", window}
// atomically with the check and returns the window, with the events of the rows it appended
// (the failure budget's lock and unlock). Refusals are AirlockErrors: not provisioned (no row),
// invalid code (oauth_totp_reject "bad code"), or a consumed window (oauth_totp_reject "window
// already consumed"); while the failure budget's lock holds, RateLimited from ErrLockedOp,
// without a row. Door failures count against the same budget as stage and land codes.
func (s *Service) VerifyDoor(ctx context.Context, code, clientID string) (int64, []Event, error) {
	const op = "airlock.totp_verify"
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, nil, err
	}
	defer unlock()
	var evs []Event
	sec, err := s.loadSecret(op, s.secret)
	if err != nil {
		return 0, evs, err
	}
	if err := s.checkLock(ctx, &evs); err != nil {
		return 0, evs, err
	}
	w, ok := totp.Verify(sec, code, s.now())
	if !ok {
		if err := s.doorReject(ctx, doorRejectDetail{Reason: DoorRejectBadCode}, &evs); err != nil {
			return 0, evs, err
		}
		return 0, evs, fault.E(op, fault.AirlockError, "invalid code")
	}
	used, err := s.windowUsed(ctx, w)
	if err != nil {
		return 0, evs, err
	}
	if used != "" {
		if err := s.doorReject(ctx, doorRejectDetail{Reason: DoorRejectConsumed, Window: &w}, &evs); err != nil {
			return 0, evs, err
		}
		return 0, evs, fault.E(op, fault.AirlockError, "a code from window %d was already used (%s; consume-once) — wait for a fresh code", w, used)
	}
	if err := s.record(ctx, Record{Actor: ActorPractitioner, Op: OpOAuthApprove,
		Detail: encodeDetail(doorApproveDetail{ClientID: clientID, Channel: DoorChannelTOTP, Window: w})}); err != nil {
		return 0, evs, err
	}
	s.log.Info("oauth door approved", keyClient, clientID, keyWindow, w)
	return w, evs, nil
}

// doorReject appends an oauth_totp_reject row and counts it against the failure budget.
func (s *Service) doorReject(ctx context.Context, d doorRejectDetail, evs *[]Event) error {
	if err := s.record(ctx, Record{Actor: ActorSystem, Op: OpOAuthTOTPReject, Detail: encodeDetail(d)}); err != nil {
		return err
	}
	s.log.Info("oauth door code refused", keyReason, d.Reason)
	return s.failed(ctx, evs)
}

// CheckCode is totp-check (O-totp-5) through the one reader of the secret (ARCH-3): it
// consumes nothing and writes no row. No secret refuses with "run totp-provision first".
func (s *Service) CheckCode(code string) (totp.Diagnosis, error) {
	const op = "airlock.totp_check"
	sec, err := s.secret.Load()
	switch {
	case errors.Is(err, totp.ErrNotProvisioned):
		return totp.Diagnosis{}, fault.Wrap(op, fault.AirlockError, err, "no totp secret — run totp-provision first")
	case err != nil:
		return totp.Diagnosis{}, fault.Wrap(op, fault.Internal, err, "totp secret unusable")
	}
	return totp.Check(sec, code, s.now()), nil
}
