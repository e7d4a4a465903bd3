package approval

import (
	"context"
	"errors"

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
// step. A refusal appends its totp_reject row first and burns nothing.
func (s *Service) consume(ctx context.Context, code string, purpose Purpose, object string, minWindow *int64) (int64, error) {
	const op = "airlock.consume"
	src := s.secret
	if purpose == PurposeLand {
		src = s.landSecret
	}
	sec, err := s.loadSecret(op, src)
	if err != nil {
		return 0, err
	}
	w, ok := totp.Verify(sec, code, s.now())
	if !ok {
		if err := s.reject(ctx, rejectDetail{Purpose: purpose, Object: object, Reason: RejectInvalid}); err != nil {
			return 0, err
		}
		return 0, fault.E(op, fault.AirlockError, "invalid code")
	}
	if minWindow != nil && w <= *minWindow {
		minW := *minWindow
		if err := s.reject(ctx, rejectDetail{Purpose: purpose, Object: object, Window: &w, MinWindow: &minW,
			Reason: RejectNotLater}); err != nil {
			return 0, err
		}
		return 0, fault.E(op, fault.AirlockError,
			"code is from window %d, which is not strictly later than the staging window %d — wait for a fresh code",
			w, minW)
	}
	used, err := s.windowUsed(ctx, w, purpose)
	if err != nil {
		return 0, err
	}
	if used {
		if err := s.reject(ctx, rejectDetail{Purpose: purpose, Object: object, Window: &w, Reason: RejectReplay}); err != nil {
			return 0, err
		}
		return 0, fault.E(op, fault.AirlockError,
			"a code from window %d was already used for %s (consume-once) — wait for a fresh code", w, purpose)
	}
	// the window, never the code.
	if err := s.record(ctx, Record{Actor: ActorPractitioner, Op: OpTOTPAccept,
		Detail: encodeDetail(acceptDetail{Window: w, Purpose: purpose, Object: object})}); err != nil {
		return 0, err
	}
	s.log.Info("totp window accepted", keyPurpose, string(purpose), keyProposal, object, keyWindow, w)
	return w, nil
}

func (s *Service) reject(ctx context.Context, d rejectDetail) error {
	if err := s.record(ctx, Record{Actor: ActorSystem, Op: OpTOTPReject, Detail: encodeDetail(d)}); err != nil {
		return err
	}
	attrs := []any{keyPurpose, string(d.Purpose), keyProposal, d.Object, keyReason, d.Reason}
	if d.Window != nil {
		attrs = append(attrs, keyWindow, *d.Window)
	}
	s.log.Info("totp code refused", attrs...)
	return nil
}

// windowUsed reports whether window w is consumed for purpose: a totp_accept row with
// that window and purpose, or (D-5) an oauth_approve row with that window. An empty purpose
// matches a totp_accept row of any purpose (the door's rule, A-72).
func (s *Service) windowUsed(ctx context.Context, w int64, purpose Purpose) (bool, error) {
	accepts, err := s.ledger.Rows(ctx, OpTOTPAccept)
	if err != nil {
		return false, err
	}
	for _, r := range accepts {
		d := parseDetail(r.Detail)
		if rw, ok := d.window("window"); ok && rw == w && (purpose == "" || d.str("purpose") == string(purpose)) {
			return true, nil
		}
	}
	approves, err := s.ledger.Rows(ctx, OpOAuthApprove)
	if err != nil {
		return false, err
	}
	for _, r := range approves {
		// Console grants carry no window and never match.
		if rw, ok := parseDetail(r.Detail).window("window"); ok && rw == w {
			return true, nil
		}
	}
	return false, nil
}

// VerifyDoor implements stasima.airlock.cmd.totp_verify for the OAuth approve page (A-72,
// identity.md I-65): it verifies code and, when its window is unused by any airlock purpose and
// by any earlier door approval, appends oauth_approve {client_id, channel:"totp", window}
// atomically with the check and returns the window. Refusals are AirlockErrors: not
// provisioned (no row), invalid code (oauth_totp_reject "bad code"), or a consumed window
// (oauth_totp_reject "window already consumed").
func (s *Service) VerifyDoor(ctx context.Context, code, clientID string) (int64, error) {
	const op = "airlock.totp_verify"
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	sec, err := s.loadSecret(op, s.secret)
	if err != nil {
		return 0, err
	}
	w, ok := totp.Verify(sec, code, s.now())
	if !ok {
		if err := s.doorReject(ctx, doorRejectDetail{Reason: DoorRejectBadCode}); err != nil {
			return 0, err
		}
		return 0, fault.E(op, fault.AirlockError, "invalid code")
	}
	used, err := s.windowUsed(ctx, w, "")
	if err != nil {
		return 0, err
	}
	if used {
		if err := s.doorReject(ctx, doorRejectDetail{Reason: DoorRejectConsumed, Window: &w}); err != nil {
			return 0, err
		}
		return 0, fault.E(op, fault.AirlockError, "a code from window %d was already used (consume-once) — wait for a fresh code", w)
	}
	if err := s.record(ctx, Record{Actor: ActorPractitioner, Op: OpOAuthApprove,
		Detail: encodeDetail(doorApproveDetail{ClientID: clientID, Channel: DoorChannelTOTP, Window: w})}); err != nil {
		return 0, err
	}
	s.log.Info("oauth door approved", keyClient, clientID, keyWindow, w)
	return w, nil
}

func (s *Service) doorReject(ctx context.Context, d doorRejectDetail) error {
	if err := s.record(ctx, Record{Actor: ActorSystem, Op: OpOAuthTOTPReject, Detail: encodeDetail(d)}); err != nil {
		return err
	}
	s.log.Info("oauth door code refused", keyReason, d.Reason)
	return nil
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
