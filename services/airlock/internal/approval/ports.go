package approval

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/stasima/stasima/services/airlock/internal/totp"
)

// Row is one audit_events row as the airlock reads it (audit.md U-1). Empty strings stand for
// SQL NULL.
type Row struct {
	Seq       int64
	Op        string
	Actor     string
	TargetRef string
	ResultOID string
	Detail    json.RawMessage // a JSON object
}

// Record is one audit row the airlock appends: exactly the hashed fields it sets (U-21); the
// audit service assigns seq, ts and prev_hash. Empty strings are NULL; the outcome is ok.
type Record struct {
	Actor     string
	Op        string
	TargetRef string
	ResultOID string
	Detail    json.RawMessage // a JSON object in the key order of U-21
}

// Query selects the rows of one op by the detail members the airlock decides on, so a decision
// reads a bounded number of rows through an index however long the log grows: Window, Purpose
// and Object match detail.window, detail.purpose and detail.object when set; only rows with seq
// > AfterSeq match; at most Limit rows (Limit > 0) come back, in ascending seq order, or the
// newest first with Desc.
type Query struct {
	Op       string
	Window   *int64
	Purpose  string
	Object   string
	AfterSeq int64
	Limit    int
	Desc     bool
}

// Ledger reads the audit log, where all airlock state lives.
//
// Rows returns every row whose op is op, in ascending seq order (the fold of stage, revert and
// land rows, which grows with real activity only). Find returns the rows q selects. A read that
// starts after an Audit.Append returned MUST see that row (ARCH-6). Implementations are safe for
// concurrent use; errors are returned as they are (BackendUnavailable on the bus) and abort the
// operation before any decision is taken.
type Ledger interface {
	Rows(ctx context.Context, op string) ([]Row, error)
	Find(ctx context.Context, q Query) ([]Row, error)
}

// Audit appends the airlock's rows (totp_accept, totp_reject, airlock_stage, airlock_revert,
// oauth_approve, oauth_totp_reject).
//
// Append returns only once the row is in the log (ARCH-6: the intent is awaited), with its
// seq. The implementation assigns the intent id, deriving it from the command being handled
// so a redelivered command cannot append a row twice (ARCH-8, U-5). An error means the row may
// or may not exist; the operation stops.
type Audit interface {
	Append(ctx context.Context, r Record) (seq int64, err error)
}

// Candidate is a prepared merge (operations.md O-merge-10): the unreferenced candidate commit
// and what it changes.
type Candidate struct {
	OID          string   `json:"candidate_oid"`
	Into         string   `json:"into"`
	ProposalRef  string   `json:"proposal_ref"`
	ChangedPaths []string `json:"changed_paths"` // sorted(adds + modifies)
}

// LandApproval binds a land to the exact candidate it approves (INV-14, O-merge-11).
type LandApproval struct {
	CandidateOID string `json:"candidate_oid"`
	ApprovedBy   string `json:"approved_by"`
	Evidence     string `json:"evidence"` // "airlock-totp-w<window>" (D-17)
}

// Anchor is the audit head written into git after a land (U-50).
type Anchor struct {
	Seq  int64  `json:"seq"`
	Head string `json:"head"`
}

// LandResult is the land result of O-land-9, returned by land_approve unchanged.
type LandResult struct {
	Landed  string `json:"landed"`
	Seq     string `json:"seq"`
	Display string `json:"display"`
	Anchor  Anchor `json:"anchor"`
}

// Candidates is capstore's landing side as the airlock uses it (over the bus in the service).
//
// Prepare writes the merge candidate of proposalRef into into (O-merge-10) without moving any
// ref; its refusals (RefNotFound, MergeConflict, CanonAppendOnly) come back as *fault.Error and
// are returned to the caller unchanged. Validate checks the candidate's log entry against
// the current canon tip (O-land-3) and returns its seq in lowercase hex; a refusal is a
// ValidationError. Land runs the landing routine O-land-3…O-land-9 for a candidate
// prepared earlier, writing the land_merge row; its refusals (ValidationError, StaleRef,
// MergeNotApproved) are returned unchanged, except that a candidate which no longer
// binds the current proposal and canon tips (the proposal or canon changed since staging) is
// reported by an error matching ErrUnbound. All three are safe to call concurrently; the
// airlock calls them under its mutex.
type Candidates interface {
	Prepare(ctx context.Context, proposalRef, into string) (Candidate, error)
	Validate(ctx context.Context, c Candidate) (seq string, err error)
	Land(ctx context.Context, c Candidate, a LandApproval) (LandResult, error)
}

// ErrUnbound reports that capstore refused to land a staged candidate because it no longer is
// the merge of the current proposal and canon tips (A-64, INV-14): what was reviewed is not
// what would land. Candidates.Land wraps its refusal with it.
var ErrUnbound = errors.New("the staged candidate no longer binds the proposal")

// SecretSource yields the TOTP secret each time a code is checked (totp.File implements it).
// A missing secret is totp.ErrNotProvisioned.
type SecretSource interface {
	Load() (totp.Secret, error)
}

var _ SecretSource = totp.File{}
