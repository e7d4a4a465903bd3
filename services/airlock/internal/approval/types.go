package approval

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Seconds is a Unix time in seconds, written as a JSON float in Python's repr form (CONV-6,
// U-61): 1721567890.0, never 1721567890, so the audit service stores staged_at as the float it
// is (U-60) and results read as 0.1.5's did.
type Seconds float64

// SecondsOf converts t to Seconds.
func SecondsOf(t time.Time) Seconds {
	return Seconds(float64(t.Unix()) + float64(t.Nanosecond())/1e9)
}

// MarshalJSON writes s per U-61; NaN and infinities are refused (they are not JSON).
func (s Seconds) MarshalJSON() ([]byte, error) {
	f := float64(s)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("approval: %v is not a time", f)
	}
	return appendPyFloat(nil, f), nil
}

// appendPyFloat appends Python's repr of a finite float (U-61): the shortest round-tripping
// digits, positional with at least one fractional digit when the decimal exponent is in
// [-4, 16), otherwise d.ddde±XX.
func appendPyFloat(dst []byte, f float64) []byte {
	if exp := decimalExponent(f); exp < -4 || exp >= 16 {
		return strconv.AppendFloat(dst, f, 'e', -1, 64) // Go also writes two exponent digits
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// decimalExponent is e in f = d.ddd × 10^e for the shortest round-tripping digits.
func decimalExponent(f float64) int {
	if f == 0 {
		return 0
	}
	b := strconv.AppendFloat(nil, f, 'e', -1, 64)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == 'e' {
			e, _ := strconv.Atoi(string(b[i+1:]))
			return e
		}
	}
	return 0
}

// Event is a payload the service publishes on stasima.evt.<EventType()> after the row it
// reports was appended (A-71; spec README §2.2).
type Event interface {
	EventType() string
}

// Event types.
const (
	EvtStaged   = "airlock.staged"
	EvtReverted = "airlock.reverted"
	EvtLanded   = "airlock.landed"
	EvtLocked   = "airlock.locked"
	EvtUnlocked = "airlock.unlocked"
)

// Staged is the airlock.staged event and the stage_approve result.
type Staged struct {
	ProposalID   string   `json:"proposal_id"`
	StagedOID    string   `json:"staged_oid"`
	StagedAt     Seconds  `json:"staged_at"`
	LandsAfter   Seconds  `json:"lands_after"`
	ExpiresAt    Seconds  `json:"expires_at"`
	ChangedPaths []string `json:"changed_paths"`
	LogSeq       string   `json:"log_seq"`
}

// Reverted is the airlock.reverted event.
type Reverted struct {
	ProposalID string `json:"proposal_id"`
	Reason     string `json:"reason"` // ReasonManual or ReasonTTL
}

// Landed is the airlock.landed event.
type Landed struct {
	ProposalID string `json:"proposal_id"`
	StagedOID  string `json:"staged_oid"`
	Landed     string `json:"landed"`
	Seq        string `json:"seq"`
}

// Locked is the airlock.locked event: the deployment-wide failure budget ran out, and every
// code check (stage, land, the OAuth door) is refused until Until.
type Locked struct {
	Until    Seconds `json:"until"`
	Failures int     `json:"failures"`
	PeriodS  float64 `json:"period_s"`
}

// Unlocked is the airlock.unlocked event: the lock that ended at Until is over.
type Unlocked struct {
	Until Seconds `json:"until"`
}

// EventType returns EvtLocked.
func (Locked) EventType() string { return EvtLocked }

// EventType returns EvtUnlocked.
func (Unlocked) EventType() string { return EvtUnlocked }

// EventType returns EvtStaged.
func (Staged) EventType() string { return EvtStaged }

// EventType returns EvtReverted.
func (Reverted) EventType() string { return EvtReverted }

// EventType returns EvtLanded.
func (Landed) EventType() string { return EvtLanded }

// Revert reasons (airlock_revert detail.reason).
const (
	ReasonManual = "manual"
	ReasonTTL    = "ttl"
)

// RevertResult is stage_revert's result {proposal_id, state:"open"}.
type RevertResult struct {
	ProposalID string `json:"proposal_id"`
	State      Phase  `json:"state"`
}

// Phase is a proposal's airlock state.
type Phase string

// Phases of A-12.
const (
	PhaseOpen   Phase = "open"
	PhaseStaged Phase = "staged"
	PhaseLanded Phase = "landed"
)

// StagedProposal is one item of the staged listing.
type StagedProposal struct {
	ProposalID string  `json:"proposal_id"`
	StagedOID  string  `json:"staged_oid"`
	StagedAt   Seconds `json:"staged_at"`
	LandsAfter Seconds `json:"lands_after"`
	ExpiresAt  Seconds `json:"expires_at"`
}

// State is the state of one proposal:
//
//	{state:"staged", staged_oid, staged_at, window, changed_paths, lands_after, expires_at}
//	{state:"open"} | {state:"open", reverted:"ttl"} | {state:"landed"}
type State struct {
	Phase    Phase
	Reverted string     // ReasonTTL when this read expired the stage
	Staging  *StageInfo // set iff Phase == PhaseStaged
}

// StageInfo is what a staged proposal carries, lands_after and expires_at computed with
// the current configured floor and ceiling.
type StageInfo struct {
	StagedOID    string   `json:"staged_oid"`
	StagedAt     Seconds  `json:"staged_at"`
	Window       int64    `json:"window"`
	ChangedPaths []string `json:"changed_paths"`
	LandsAfter   Seconds  `json:"lands_after"`
	ExpiresAt    Seconds  `json:"expires_at"`
}

// MarshalJSON writes the A-14 shape.
func (s State) MarshalJSON() ([]byte, error) {
	if s.Phase == PhaseStaged && s.Staging != nil {
		return json.Marshal(struct {
			State Phase `json:"state"`
			*StageInfo
		}{s.Phase, s.Staging})
	}
	return json.Marshal(struct {
		State    Phase  `json:"state"`
		Reverted string `json:"reverted,omitempty"`
	}{s.Phase, s.Reverted})
}
