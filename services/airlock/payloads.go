package airlock

import (
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/airlock/internal/approval"
)

// The airlock's side of the bus contract (spec README §2.2, airlock.md, tools.md §10). These
// payloads live here until a later change moves them to pkg/schema next to capstore's and
// audit's; their JSON is the contract and will not change in the move.

// Command verbs: stasima.airlock.cmd.<verb>, on the COMMANDS stream (ARCH-12). The requester
// puts its reply inbox in the Stasima-Reply header (busclient.Client.Do does).
const (
	// CmdStage is stage_approve: Stage → Staged (A-30…A-35).
	CmdStage = "stage"
	// CmdLand is land_approve: Land → schema.LandResult (A-40…A-47).
	CmdLand = "land"
	// CmdRevert is stage_revert: Revert → RevertResult (A-50…A-52).
	CmdRevert = "revert"
	// CmdTOTPVerify is the OAuth door's code check: TOTPVerify → TOTPVerified (A-72, ARCH-3).
	CmdTOTPVerify = "totp_verify"
	// CmdTOTPProvision is totp-provision: TOTPProvision → Provisioned (O-totp-3/4). Admin
	// CLI only: its result carries the otpauth URI, that is the secret.
	CmdTOTPProvision = "totp_provision"
)

// Query names: stasima.airlock.q.<name>, core request/reply in the queue group
// <prefix>-airlock.
const (
	// QState is a proposal's airlock state: ProposalQuery → ProposalState (A-12…A-14).
	QState = "state"
	// QStaged lists the staged proposals: no body → StagedList.
	QStaged = "staged"
	// QCheckWritable is the frozen gate (A-20, C-prop-5) the gateway asks before propose,
	// propose_retract and propose_close: CheckWritable → Writable, or Denied.
	QCheckWritable = "check_writable"
	// QTOTPCheck is totp-check: TOTPCheck → Diagnosis (O-totp-5). It consumes nothing.
	QTOTPCheck = "totp_check"
)

// Event types, published on stasima.evt.<type> (EVENTS stream) after the audit row they
// report is appended. The Nats-Msg-Id is "<type>/<intent id of that row>" (landed:
// "<type>/<landed oid>"), so a redelivered command republishes the same ids and JetStream
// drops the repeats.
const (
	EvtStaged   = approval.EvtStaged   // "airlock.staged": Staged
	EvtReverted = approval.EvtReverted // "airlock.reverted": Reverted
	EvtLanded   = approval.EvtLanded   // "airlock.landed": Landed
	EvtLocked   = approval.EvtLocked   // "airlock.locked": Locked
	EvtUnlocked = approval.EvtUnlocked // "airlock.unlocked": Unlocked
)

// Locked is the data of the airlock.locked event: FailureBudget wrong codes within
// FailurePeriod (stage, land and the OAuth door together) lock every code check until Until.
type Locked = approval.Locked

// Unlocked is the data of the airlock.unlocked event, published by the first call after the
// lock ended at Until.
type Unlocked = approval.Unlocked

// Audit ops of the failure budget's lock: airlock_locked {until, failures, period_s} and
// airlock_unlocked {until}.
const (
	OpLocked   = approval.OpAirlockLocked
	OpUnlocked = approval.OpAirlockUnlocked
)

// LockedOp is the op of the fault (class RateLimited) that refuses a code, stage, land or the
// door's, while the failure budget's lock holds. The console land is never locked.
const LockedOp = approval.ErrLockedOp

// Revert reasons of Reverted.
const (
	ReasonManual = approval.ReasonManual
	ReasonTTL    = approval.ReasonTTL
)

// MaxWrongLandCodes is how many wrong land codes one staging takes before the proposal's
// airlock refuses every land code until it is reverted (issue #5).
const MaxWrongLandCodes = approval.MaxWrongLandCodes

// Seconds is a Unix time in seconds, encoded as Python's float repr (CONV-6): 1700000015.0.
type Seconds = approval.Seconds

// The relay commands Stage and Land carry an optional Client and Address: who relays them, for
// the per-client rate limit (RelayBurst per RelayPeriod, default 10 a minute), which keys on
// each of the two, so a fresh session from the same address does not refill it. The gateway
// MUST pass its MCP session id in Client (the one it tags rows with, identity.md I-30) and the
// client's network address (host, without the port) in Address; the CLI, which relays nothing,
// may leave both empty. Commands without them share the bucket of the empty client. Only
// attempts that carry a code count; Revert never takes a code and is never limited (aborting is
// the safe direction). A refusal is class RateLimited (HTTP 429) and leaves an
// airlock_rate_limited row.

// Stage is the data of stasima.airlock.cmd.stage (stage_approve).
type Stage struct {
	ProposalID string `json:"proposal_id"`
	Code       string `json:"code"`
	Client     string `json:"client,omitempty"`
	Address    string `json:"address,omitempty"`
}

// Land is the data of stasima.airlock.cmd.land (land_approve). A staged proposal takes at most
// MaxWrongLandCodes (5) wrong land codes; past that every land code is refused until
// the proposal is reverted.
type Land struct {
	StagedOIDPrefix string `json:"staged_oid_prefix"`
	Code            string `json:"code"`
	Client          string `json:"client,omitempty"`
	Address         string `json:"address,omitempty"`
}

// Revert is the data of stasima.airlock.cmd.revert (stage_revert). It never takes a code.
type Revert struct {
	ProposalID string `json:"proposal_id"`
	Client     string `json:"client,omitempty"`
	Address    string `json:"address,omitempty"`
}

// TOTPVerify is the data of stasima.airlock.cmd.totp_verify. Purpose is "oauth" (the
// only one; empty means oauth).
type TOTPVerify struct {
	Code     string `json:"code"`
	Purpose  string `json:"purpose,omitempty"`
	ClientID string `json:"client_id"`
}

// TOTPVerified answers TOTPVerify: the accepted window.
type TOTPVerified struct {
	Window int64 `json:"window"`
}

// TOTPProvision is the data of stasima.airlock.cmd.totp_provision (O-totp-3/4): Force
// rotates an existing secret; QR re-displays an existing one and, in every case, adds the
// terminal QR of the otpauth URI to the result (Provisioned.QR). Land provisions the land
// factor at airlock_land_secret instead of the first secret (the CLI's --land): its own
// secret, its own authenticator entry labelled <issuer>:practitioner-land; it is refused when
// airlock_land_secret is not configured.
type TOTPProvision struct {
	Force bool `json:"force,omitempty"`
	QR    bool `json:"qr,omitempty"`
	Land  bool `json:"land,omitempty"`
}

// Provisioned answers TOTPProvision: {secret_path, otpauth_uri, rotated?, note, qr?}. Rotated
// is present (false) only when an existing secret was re-displayed. QR, asked for with qr, is
// the otpauth URI as a QR code in terminal half blocks, one line per two module rows, each
// line ending in "\n", quiet zone included, dark-terminal polarity (print it as it is).
type Provisioned struct {
	SecretPath string `json:"secret_path"`
	OTPAuthURI string `json:"otpauth_uri"`
	Rotated    *bool  `json:"rotated,omitempty"`
	Note       string `json:"note"`
	QR         string `json:"qr,omitempty"`
}

// Staged is stage_approve's result and the data of the airlock.staged event.
type Staged struct {
	ProposalID   string   `json:"proposal_id"`
	StagedOID    string   `json:"staged_oid"`
	StagedAt     Seconds  `json:"staged_at"`
	LandsAfter   Seconds  `json:"lands_after"`
	ExpiresAt    Seconds  `json:"expires_at"`
	ChangedPaths []string `json:"changed_paths"`
	LogSeq       string   `json:"log_seq"`
}

// Reverted is the data of the airlock.reverted event.
type Reverted struct {
	ProposalID string `json:"proposal_id"`
	Reason     string `json:"reason"` // ReasonManual or ReasonTTL
}

// Landed is the data of the airlock.landed event.
type Landed struct {
	ProposalID string `json:"proposal_id"`
	StagedOID  string `json:"staged_oid"`
	Landed     string `json:"landed"`
	Seq        string `json:"seq"`
}

// RevertResult is stage_revert's result {proposal_id, state:"open"}.
type RevertResult struct {
	ProposalID string `json:"proposal_id"`
	State      string `json:"state"`
}

// ProposalQuery names a proposal (the data of QState).
type ProposalQuery = schema.ProposalQuery

// Phases of ProposalState.State.
const (
	PhaseOpen   = string(approval.PhaseOpen)
	PhaseStaged = string(approval.PhaseStaged)
	PhaseLanded = string(approval.PhaseLanded)
)

// ProposalState answers QState in the shape of A-14:
//
//	{state:"staged", staged_oid, staged_at, window, changed_paths, lands_after, expires_at}
//	{state:"open"} | {state:"open", reverted:"ttl"} | {state:"landed"}
type ProposalState struct {
	State    string `json:"state"`
	Reverted string `json:"reverted,omitempty"` // ReasonTTL when this read expired the stage
	*StageInfo
}

// StageInfo is what a staged proposal carries, lands_after and expires_at computed with
// the currently configured floor and ceiling.
type StageInfo struct {
	StagedOID    string   `json:"staged_oid"`
	StagedAt     Seconds  `json:"staged_at"`
	Window       int64    `json:"window"`
	ChangedPaths []string `json:"changed_paths"`
	LandsAfter   Seconds  `json:"lands_after"`
	ExpiresAt    Seconds  `json:"expires_at"`
}

// StagedProposal is one item of StagedList.
type StagedProposal struct {
	ProposalID string  `json:"proposal_id"`
	StagedOID  string  `json:"staged_oid"`
	StagedAt   Seconds `json:"staged_at"`
	LandsAfter Seconds `json:"lands_after"`
	ExpiresAt  Seconds `json:"expires_at"`
}

// StagedList answers QStaged: the staged proposals by first appearance.
type StagedList struct {
	Staged []StagedProposal `json:"staged"`
}

// CheckWritable is the data of QCheckWritable. Op is the tool about to write (propose,
// propose_retract or propose_close); it is named in the refusal.
type CheckWritable struct {
	Op         string `json:"op"`
	ProposalID string `json:"proposal_id"`
}

// Writable answers CheckWritable when the proposal is not frozen. A frozen one is refused
// with class Denied, naming the proposal and "frozen for review" (T-propose-5).
type Writable struct {
	Writable bool `json:"writable"`
}

// TOTPCheck is the data of QTOTPCheck. The code is never logged, stored or echoed.
type TOTPCheck struct {
	Code string `json:"code"`
}

// Diagnosis answers TOTPCheck (O-totp-5) in one of three shapes:
//
//	{valid: true, matched_window, current_window, note}
//	{valid: false, matched_window, skew, note}
//	{valid: false, note}
type Diagnosis struct {
	Valid         bool   `json:"valid"`
	MatchedWindow *int64 `json:"matched_window,omitempty"`
	CurrentWindow *int64 `json:"current_window,omitempty"`
	Skew          string `json:"skew,omitempty"`
	Note          string `json:"note"`
}

// The conversions from the state machine's types to the wire.

func stagedOf(s approval.Staged) Staged {
	return Staged{ProposalID: s.ProposalID, StagedOID: s.StagedOID, StagedAt: s.StagedAt, LandsAfter: s.LandsAfter,
		ExpiresAt: s.ExpiresAt, ChangedPaths: nonNil(s.ChangedPaths), LogSeq: s.LogSeq}
}

func stateOf(s approval.State) ProposalState {
	out := ProposalState{State: string(s.Phase), Reverted: s.Reverted}
	if s.Phase == approval.PhaseStaged && s.Staging != nil {
		i := s.Staging
		out.StageInfo = &StageInfo{StagedOID: i.StagedOID, StagedAt: i.StagedAt, Window: i.Window,
			ChangedPaths: nonNil(i.ChangedPaths), LandsAfter: i.LandsAfter, ExpiresAt: i.ExpiresAt}
	}
	return out
}

func landResultOf(r approval.LandResult) schema.LandResult {
	return schema.LandResult{Landed: r.Landed, Seq: r.Seq, Display: r.Display,
		Anchor: schema.AuditHead{Seq: r.Anchor.Seq, Head: r.Anchor.Head}}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
