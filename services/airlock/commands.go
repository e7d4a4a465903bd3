package airlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/telemetry"
	"github.com/stasima/stasima/services/airlock/internal/approval"
	"github.com/stasima/stasima/services/airlock/internal/totp"
)

// outEvent is one event to publish: its Nats-Msg-Id (also the envelope id), type and data.
type outEvent struct {
	id, typ string
	data    any
}

// commands is the airlock's command table. Each command runs in the order of ARCH-12: effect
// (rows appended and awaited), events, then the kit's reply on the Stasima-Reply inbox and ack.
//
// A command is safe to redeliver (ARCH-8). Its rows carry intent ids derived from the envelope
// id, and a redelivery first looks for the row that completed the command in an earlier
// delivery — airlock_stage for stage, airlock_revert for revert, totp_accept for land,
// oauth_approve for totp_verify — and answers from it instead of deciding again, so the
// requester gets the original result and the log one row. An earlier delivery that died between
// consuming the code and its decisive row (stage, door) cannot be told apart from a replay: it
// is refused as consume-once and the practitioner uses a fresh code, as after A-47.
//
// Refusals and backend failures are replied and acked, not redelivered: codes live for about
// a minute, so retrying later would only burn a totp_reject row. Only a failure to publish the
// events hands the command back (bus.Retry), and the redelivery republishes them under the same
// ids.
func (s *Service) commands() bus.Handlers {
	tbl := bus.Handlers{}
	for _, verb := range []string{CmdStage, CmdLand, CmdRevert, CmdTOTPVerify, CmdTOTPProvision} {
		tbl[verb] = s.handle
	}
	return tbl
}

// handle runs one command of the table: execute, then its events, then the answer.
func (s *Service) handle(ctx context.Context, cmd bus.Command) bus.Answer {
	c := &call{id: cmd.Envelope.ID, session: cmd.Envelope.Session}
	ctx = withCall(ctx, c)
	result, events, err := s.execute(ctx, c, cmd.Verb, cmd.Envelope, cmd.Redelivered())
	if hook := s.afterApply.Load(); hook != nil {
		(*hook)(cmd.Verb)
	}
	if perr := s.publish(ctx, c.session, events); perr != nil {
		return bus.Retry(fault.Wrap("airlock.publish", fault.BackendUnavailable, perr, "publish events"))
	}
	return bus.Answer{Result: result, Err: err, Intents: c.allIntentIDs()}
}

// execute decodes and runs one command; it returns the result and the events of the rows the
// command appended (or, on a recognised redelivery, found).
func (s *Service) execute(ctx context.Context, c *call, verb string, env bus.Envelope, redelivered bool) (any, []outEvent, error) {
	switch verb {
	case CmdStage:
		var cmd Stage
		if err := decode(env, verb, &cmd); err != nil {
			return nil, nil, err
		}
		if redelivered {
			if res, ev, ok, err := s.stagedEarlier(ctx, env.ID); err != nil || ok {
				return res, ev, err
			}
		}
		if err := s.rateLimit(ctx, verb, cmd.Client, cmd.Address, cmd.ProposalID); err != nil {
			return nil, nil, err
		}
		res, evs, err := s.m.Stage(ctx, cmd.ProposalID, cmd.Code)
		s.spendRelay(c, cmd.Client, cmd.Address)
		return stagedOf(res), s.events(c, evs), err
	case CmdLand:
		var cmd Land
		if err := decode(env, verb, &cmd); err != nil {
			return nil, nil, err
		}
		if redelivered {
			if res, ev, ok, err := s.landedEarlier(ctx, c, env.ID); err != nil || ok {
				return res, ev, err
			}
		}
		if err := s.rateLimit(ctx, verb, cmd.Client, cmd.Address, cmd.StagedOIDPrefix); err != nil {
			return nil, nil, err
		}
		res, evs, err := s.m.Land(ctx, cmd.StagedOIDPrefix, cmd.Code)
		s.spendRelay(c, cmd.Client, cmd.Address)
		return landResultOf(res), s.events(c, evs), err
	case CmdRevert:
		var cmd Revert
		if err := decode(env, verb, &cmd); err != nil {
			return nil, nil, err
		}
		if redelivered {
			if res, ev, ok, err := s.revertedEarlier(ctx, env.ID); err != nil || ok {
				return res, ev, err
			}
		}
		// Never rate limited: a revert takes no code, and aborting is the safe direction.
		res, evs, err := s.m.Revert(ctx, cmd.ProposalID)
		return RevertResult{ProposalID: res.ProposalID, State: string(res.State)}, s.events(c, evs), err
	case CmdTOTPVerify:
		var cmd TOTPVerify
		if err := decode(env, verb, &cmd); err != nil {
			return nil, nil, err
		}
		if cmd.Purpose != "" && cmd.Purpose != "oauth" {
			return nil, nil, fault.E("airlock.totp_verify", fault.ArgumentError, "purpose %q is not oauth", cmd.Purpose)
		}
		if redelivered {
			rows, err := s.earlier(ctx, env.ID, approval.OpOAuthApprove)
			if err != nil {
				return nil, nil, err
			}
			if len(rows) > 0 {
				var d struct {
					Window int64 `json:"window"`
				}
				_ = json.Unmarshal(rows[0].Detail, &d)
				return TOTPVerified{Window: d.Window}, nil, nil
			}
		}
		w, evs, err := s.m.VerifyDoor(ctx, cmd.Code, cmd.ClientID)
		return TOTPVerified{Window: w}, s.events(c, evs), err
	case CmdTOTPProvision:
		var cmd TOTPProvision
		if err := decode(env, verb, &cmd); err != nil {
			return nil, nil, err
		}
		res, err := s.provision(cmd)
		return res, nil, err
	}
	return nil, nil, fault.E("airlock.cmd", fault.ArgumentError, "unknown airlock command %q", verb)
}

// provision runs totp_provision (O-totp-3/4) for the first secret or, with Land, for the land
// factor at airlock_land_secret, and renders the QR when asked.
func (s *Service) provision(cmd TOTPProvision) (Provisioned, error) {
	path, account, factor := s.cfg.SecretPath, totp.Account, "stage"
	if cmd.Land {
		if s.cfg.LandSecretPath == "" {
			return Provisioned{}, fault.E("totp-provision.land", fault.AirlockError,
				"no land factor is configured — set airlock_land_secret to the path of a second secret file, then provision it with --land")
		}
		path, account, factor = s.cfg.LandSecretPath, totp.LandAccount, "land"
	}
	p, err := totp.Provision(path, totp.ProvisionOptions{Force: cmd.Force, QR: cmd.QR, Issuer: s.cfg.Issuer, Account: account})
	if err != nil {
		return Provisioned{}, provisionError(err)
	}
	s.log.Info("totp secret provisioned", "secret_path", p.SecretPath, "factor", factor, "rotated", cmd.Force)
	out := Provisioned{SecretPath: p.SecretPath, OTPAuthURI: p.OTPAuthURI, Rotated: p.Rotated, Note: p.Note}
	if cmd.Land {
		out.Note += " — this is the land factor: add it as its own authenticator entry (" + account +
			") and read land codes from it; stage codes still come from the first entry"
	}
	if cmd.QR {
		qr, err := totp.RenderQR(p.OTPAuthURI)
		if err != nil { // O-totp-3: a hint instead of the QR; the URI and secret= still work
			out.Note += " (QR rendering unavailable: enter the secret= value manually)"
		} else {
			out.QR = qr
		}
	}
	return out, nil
}

// provisionError keeps provisioning refusals as they are and hides I/O detail (Internal).
func provisionError(err error) error {
	if fe := (*fault.Error)(nil); errors.As(err, &fe) {
		return err
	}
	return fault.Wrap("totp-provision", fault.Internal, err, "totp secret not written")
}

// required names a field that must not be empty.
type required struct{ name, value string }

// decode unmarshals the command's data into v and refuses empty required fields.
func decode(env bus.Envelope, verb string, v any) error {
	if err := json.Unmarshal(env.Data, v); err != nil {
		// The decoder's message names types and offsets, never values, so no code leaks.
		return fault.Wrap("airlock."+verb, fault.ArgumentError, err, "undecodable %s command", verb)
	}
	return checkRequired(verb, v)
}

// checkRequired refuses empty required fields of the airlock's command payloads.
func checkRequired(verb string, v any) error {
	var missing string
	switch c := v.(type) {
	case *Stage:
		missing = firstEmpty(required{"proposal_id", c.ProposalID}, required{"code", c.Code})
	case *Land:
		missing = firstEmpty(required{"staged_oid_prefix", c.StagedOIDPrefix}, required{"code", c.Code})
	case *Revert:
		missing = firstEmpty(required{"proposal_id", c.ProposalID})
	case *TOTPVerify:
		missing = firstEmpty(required{"code", c.Code})
	}
	if missing != "" {
		return fault.E("airlock."+verb, fault.ArgumentError, "%s is required", missing)
	}
	return nil
}

func firstEmpty(fields ...required) string {
	for _, f := range fields {
		if strings.TrimSpace(f.value) == "" {
			return f.name
		}
	}
	return ""
}

// earlier returns the rows of op that an earlier delivery of command id appended.
func (s *Service) earlier(ctx context.Context, id, op string) ([]schema.AuditRow, error) {
	rows, err := s.ledger.raw(ctx, op)
	if err != nil {
		return nil, err
	}
	var out []schema.AuditRow
	for _, r := range rows {
		if strings.HasPrefix(r.IntentID, id+"/") {
			out = append(out, r)
		}
	}
	return out, nil
}

// stagedEarlier answers a redelivered stage whose airlock_stage row exists: the result is
// rebuilt from the row, with the configured floor and ceiling as at staging.
func (s *Service) stagedEarlier(ctx context.Context, id string) (any, []outEvent, bool, error) {
	rows, err := s.earlier(ctx, id, approval.OpAirlockStage)
	if err != nil || len(rows) == 0 {
		return nil, nil, false, err
	}
	var d struct {
		Proposal     string   `json:"proposal"`
		StagedOID    string   `json:"staged_oid"`
		StagedAt     float64  `json:"staged_at"`
		Seq          string   `json:"seq"`
		ChangedPaths []string `json:"changed_paths"`
	}
	if err := json.Unmarshal(rows[0].Detail, &d); err != nil {
		return nil, nil, false, fault.Wrap("airlock.stage", fault.Internal, err, "airlock_stage row %d unreadable", rows[0].Seq)
	}
	res := Staged{ProposalID: d.Proposal, StagedOID: d.StagedOID, StagedAt: Seconds(d.StagedAt),
		LandsAfter: Seconds(d.StagedAt + s.cfg.Floor.Seconds()), ExpiresAt: Seconds(d.StagedAt + s.cfg.Ceiling.Seconds()),
		ChangedPaths: nonNil(d.ChangedPaths), LogSeq: d.Seq}
	return res, []outEvent{{id: EvtStaged + "/" + rows[0].IntentID, typ: EvtStaged, data: res}}, true, nil
}

// revertedEarlier answers a redelivered revert whose airlock_revert row exists.
func (s *Service) revertedEarlier(ctx context.Context, id string) (any, []outEvent, bool, error) {
	rows, err := s.earlier(ctx, id, approval.OpAirlockRevert)
	if err != nil {
		return nil, nil, false, err
	}
	for _, r := range rows {
		var d struct {
			Proposal string `json:"proposal"`
			Reason   string `json:"reason"`
		}
		if json.Unmarshal(r.Detail, &d) != nil || d.Reason != ReasonManual {
			continue // a TTL revert on the way is not the command's own
		}
		ev := Reverted{ProposalID: d.Proposal, Reason: ReasonManual}
		return RevertResult{ProposalID: d.Proposal, State: PhaseOpen},
			[]outEvent{{id: EvtReverted + "/" + r.IntentID, typ: EvtReverted, data: ev}}, true, nil
	}
	return nil, nil, false, nil
}

// landedEarlier resumes a redelivered land whose land code was consumed (its totp_accept row
// for purpose land exists): the land is finished, or answered again by capstore if it reached
// canon before the crash (approval.Service.ResumeLand).
func (s *Service) landedEarlier(ctx context.Context, c *call, id string) (any, []outEvent, bool, error) {
	rows, err := s.earlier(ctx, id, approval.OpTOTPAccept)
	if err != nil {
		return nil, nil, false, err
	}
	for _, r := range rows {
		var d struct {
			Window  int64  `json:"window"`
			Purpose string `json:"purpose"`
			Object  string `json:"object"`
		}
		if json.Unmarshal(r.Detail, &d) != nil || d.Purpose != string(approval.PurposeLand) {
			continue
		}
		res, evs, err := s.m.ResumeLand(ctx, d.Object, d.Window)
		return landResultOf(res), s.events(c, evs), true, err
	}
	return nil, nil, false, nil
}

// events names the state machine's events after the rows they report: the n-th Staged after
// the n-th airlock_stage row of the call, the n-th Reverted after its n-th airlock_revert row,
// Landed after the merge it landed, Locked and Unlocked after their airlock_locked and
// airlock_unlocked rows.
func (s *Service) events(c *call, evs []approval.Event) []outEvent {
	stages, reverts := c.intentIDs(approval.OpAirlockStage), c.intentIDs(approval.OpAirlockRevert)
	locks, unlocks := c.intentIDs(approval.OpAirlockLocked), c.intentIDs(approval.OpAirlockUnlocked)
	next := func(ids *[]string, typ string, i int) string {
		if len(*ids) == 0 { // not reached: every event follows its row
			return fmt.Sprintf("%s/%s/event/%d", typ, c.id, i)
		}
		id := (*ids)[0]
		*ids = (*ids)[1:]
		return typ + "/" + id
	}
	out := make([]outEvent, 0, len(evs))
	for i, e := range evs {
		switch e := e.(type) {
		case approval.Staged:
			out = append(out, outEvent{id: next(&stages, EvtStaged, i), typ: EvtStaged, data: stagedOf(e)})
		case approval.Reverted:
			out = append(out, outEvent{id: next(&reverts, EvtReverted, i), typ: EvtReverted,
				data: Reverted{ProposalID: e.ProposalID, Reason: e.Reason}})
		case approval.Landed:
			out = append(out, outEvent{id: EvtLanded + "/" + e.Landed, typ: EvtLanded,
				data: Landed{ProposalID: e.ProposalID, StagedOID: e.StagedOID, Landed: e.Landed, Seq: e.Seq}})
		case approval.Locked:
			out = append(out, outEvent{id: next(&locks, EvtLocked, i), typ: EvtLocked, data: e})
		case approval.Unlocked:
			out = append(out, outEvent{id: next(&unlocks, EvtUnlocked, i), typ: EvtUnlocked, data: e})
		}
	}
	return out
}

// publish sends events on stasima.evt.<type>, their ids as Nats-Msg-Id, and waits until the
// EVENTS stream holds every one.
func (s *Service) publish(ctx context.Context, session string, events []outEvent) error {
	futures := make([]jetstream.PubAckFuture, 0, len(events))
	for _, ev := range events {
		env, err := bus.NewEnvelope(ev.id, ev.typ, bus.Airlock, session, "", s.cfg.now(), ev.data)
		if err != nil {
			return err
		}
		b, err := json.Marshal(env)
		if err != nil {
			return err
		}
		f, err := s.js.PublishMsgAsync(telemetry.Msg(ctx, s.subj.Event(ev.typ), b), jetstream.WithMsgID(ev.id))
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
