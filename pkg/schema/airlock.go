package schema

import "encoding/json"

// Airlock command verbs (stasima.airlock.cmd.<verb>) and queries (stasima.airlock.q.<name>).
// The payloads mirror services/airlock's own types field for field (the same JSON).
const (
	CmdAirlockStage  = "stage"
	CmdAirlockLand   = "land"
	CmdAirlockRevert = "revert"
	CmdTOTPProvision = "totp_provision"
	QAirlockCheck    = "check_writable"
	QAirlockStaged   = "staged"
	QTOTPCheck       = "totp_check"
	EvtAirlockPrefix = "airlock."
)

// AirlockStage is stage_approve's command.
type AirlockStage struct {
	ProposalID string `json:"proposal_id"`
	Code       string `json:"code"`
	Client     string `json:"client,omitempty"` // the relaying session, for the rate limit
	// Address is the relaying client's network address (host), for the same rate limit,
	// which keys on it as well as on the session.
	Address string `json:"address,omitempty"`
}

// AirlockLand is land_approve's command.
type AirlockLand struct {
	StagedOIDPrefix string `json:"staged_oid_prefix"`
	Code            string `json:"code"`
	Client          string `json:"client,omitempty"`
	Address         string `json:"address,omitempty"`
}

// AirlockRevert is stage_revert's command.
type AirlockRevert struct {
	ProposalID string `json:"proposal_id"`
	Client     string `json:"client,omitempty"`
}

// AirlockCheckWritable asks the frozen gate (C-prop-5) for a seat write on a proposal.
type AirlockCheckWritable struct {
	Op         string `json:"op"`
	ProposalID string `json:"proposal_id"`
}

// TOTPProvision asks the airlock to create or rotate the secret (operations §6).
type TOTPProvision struct {
	Force bool `json:"force,omitempty"`
	QR    bool `json:"qr,omitempty"`
	Land  bool `json:"land,omitempty"` // the second factor (airlock_land_secret)
}

// TOTPCheck asks the airlock to diagnose a code (never stored or logged).
type TOTPCheck struct {
	Code string `json:"code"`
}

// Raw is a result relayed as the owning service shaped it.
type Raw = json.RawMessage

// AirlockStaged is one staged proposal of the airlock's staged query, as `admin status`
// reports it (O-status-1). The times are epoch seconds kept in the airlock's own number text.
type AirlockStaged struct {
	ProposalID string      `json:"proposal_id"`
	StagedOID  string      `json:"staged_oid"`
	StagedAt   json.Number `json:"staged_at"`
	LandsAfter json.Number `json:"lands_after"`
	ExpiresAt  json.Number `json:"expires_at"`
}

// AirlockStagedList answers QAirlockStaged: the staged proposals by first appearance.
type AirlockStagedList struct {
	Staged []AirlockStaged `json:"staged"`
}
