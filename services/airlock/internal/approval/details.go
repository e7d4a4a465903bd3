package approval

import (
	"encoding/json"
	"math"
)

// Audit ops the airlock writes or folds (audit.md U-21).
const (
	OpTOTPAccept      = "totp_accept"
	OpTOTPReject      = "totp_reject"
	OpAirlockStage    = "airlock_stage"
	OpAirlockRevert   = "airlock_revert"
	OpLandMerge       = "land_merge" // written by capstore; folded here
	OpOAuthApprove    = "oauth_approve"
	OpOAuthTOTPReject = "oauth_totp_reject"
	// OpAirlockLocked and OpAirlockUnlocked bracket a lock of the deployment-wide failure
	// budget: {until, failures, period_s} when the budget runs out, {until} when the first
	// call after until finds it over.
	OpAirlockLocked   = "airlock_locked"
	OpAirlockUnlocked = "airlock_unlocked"
)

// Actors of the airlock's rows.
const (
	ActorPractitioner = "practitioner"
	ActorSystem       = "system"
)

// Reject reasons of totp_reject and oauth_totp_reject rows, and the door's channel.
const (
	RejectInvalid      = "invalid"
	RejectNotLater     = "not strictly later"
	RejectReplay       = "replay"
	RejectLocked       = "too many wrong codes"
	DoorRejectBadCode  = "bad code"
	DoorRejectConsumed = "window already consumed"
	DoorChannelTOTP    = "totp"
)

// The detail shapes of U-21. Field order is the stored key order (U-62); every shape is
// exactly what the table lists, no more.

// acceptDetail is totp_accept {window, purpose, object}.
type acceptDetail struct {
	Window  int64   `json:"window"`
	Purpose Purpose `json:"purpose"`
	Object  string  `json:"object"`
}

// rejectDetail is totp_reject {purpose, object, reason:"invalid"}, {purpose, object,
// window, min_window, reason:"not strictly later"}, {purpose, object, window,
// reason:"replay"} or, for a code refused because the proposal already took
// MaxWrongCodes wrong ones, {purpose, object, misses, reason:"too many wrong codes"} (the shape
// of the door's oauth_txn_burned), with until, the end of the lock, for a stage code.
type rejectDetail struct {
	Purpose   Purpose  `json:"purpose"`
	Object    string   `json:"object"`
	Window    *int64   `json:"window,omitempty"`
	MinWindow *int64   `json:"min_window,omitempty"`
	Misses    *int     `json:"misses,omitempty"`
	Until     *Seconds `json:"until,omitempty"`
	Reason    string   `json:"reason"`
}

// lockedDetail is airlock_locked {until, failures, period_s}.
type lockedDetail struct {
	Until    Seconds `json:"until"`
	Failures int     `json:"failures"`
	PeriodS  float64 `json:"period_s"`
}

// unlockedDetail is airlock_unlocked {until}.
type unlockedDetail struct {
	Until Seconds `json:"until"`
}

// stageDetail is airlock_stage {proposal, staged_oid, window, staged_at, seq, changed_paths}
//
type stageDetail struct {
	Proposal     string   `json:"proposal"`
	StagedOID    string   `json:"staged_oid"`
	Window       int64    `json:"window"`
	StagedAt     Seconds  `json:"staged_at"`
	Seq          string   `json:"seq"`
	ChangedPaths []string `json:"changed_paths"`
}

// revertDetail is airlock_revert {proposal, reason:"manual"} or {proposal,
// reason:"ttl", staged_oid}.
type revertDetail struct {
	Proposal  string `json:"proposal"`
	Reason    string `json:"reason"`
	StagedOID string `json:"staged_oid,omitempty"`
}

// doorApproveDetail is oauth_approve {client_id, channel:"totp", window}.
type doorApproveDetail struct {
	ClientID string `json:"client_id"`
	Channel  string `json:"channel"`
	Window   int64  `json:"window"`
}

// doorRejectDetail is oauth_totp_reject {reason:"bad code"} or {reason:"window already
// consumed", window} (A-72).
type doorRejectDetail struct {
	Reason string `json:"reason"`
	Window *int64 `json:"window,omitempty"`
}

// encodeDetail marshals one of the shapes above; they contain nothing that can fail.
func encodeDetail(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("approval: detail shape does not marshal: " + err.Error())
	}
	return b
}

// detail is a row's detail as the fold reads it. Reading is lenient, like 0.1.5's dict.get: a
// missing or mistyped member is absent, never an error, so a malformed row can only make a
// stage look expired (staged_at 0) or unmatchable (empty oid), never block the airlock.
type detail map[string]json.RawMessage

func parseDetail(raw json.RawMessage) detail {
	var d detail
	if json.Unmarshal(raw, &d) != nil {
		return detail{}
	}
	return d
}

func (d detail) str(key string) string {
	var s string
	if json.Unmarshal(d[key], &s) != nil {
		return ""
	}
	return s
}

func (d detail) strs(key string) []string {
	var s []string
	if json.Unmarshal(d[key], &s) != nil || s == nil {
		return []string{}
	}
	return s
}

func (d detail) float(key string) float64 {
	var f float64
	if json.Unmarshal(d[key], &f) != nil {
		return 0
	}
	return f
}

// window reads an integral number; 0.1.5 compared with Python ==, so 7.0 equals 7.
func (d detail) window(key string) (int64, bool) {
	var n json.Number
	if json.Unmarshal(d[key], &n) != nil {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}
