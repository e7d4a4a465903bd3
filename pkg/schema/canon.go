package schema

import "encoding/json"

// Capstore command verbs of the canon lifecycle.
const (
	CmdPropose        = "propose"
	CmdProposeRetract = "propose_retract"
	CmdProposeClose   = "propose_close"
	CmdSupReconcile   = "sup_reconcile"
	CmdLand           = "land"

	QProposalInfo     = "proposal_info"
	QProposalStatuses = "proposal_statuses"
	QPreviewMerge     = "preview_merge"
	QChangedPaths     = "changed_paths"

	EvtGitLand = "git.land"
	EvtGitTag  = "git.tag"
)

// Propose is the capstore half of propose (T-propose-13…16).
type Propose struct {
	Actor
	ProposalID   string   `json:"proposal_id"`
	OpID         string   `json:"op_id"`
	Domain       string   `json:"domain"`
	Slug         string   `json:"slug"`
	Body         string   `json:"body"`
	Title        string   `json:"title"`
	Type         string   `json:"type"`
	Status       string   `json:"status"`
	Seq          string   `json:"seq"` // lowercased by the gateway
	Tags         []string `json:"tags"`
	References   []string `json:"references"`
	Supersedes   []string `json:"supersedes"`
	SupersededBy []string `json:"superseded_by"`
	OriginAuthor string   `json:"origin_author"`
	Thread       string   `json:"thread"`
	AuthoredVia  string   `json:"authored_via,omitempty"`
	CanonState   string   `json:"canon_state"`
}

// ProposeResult answers Propose.
type ProposeResult struct {
	ProposalID string `json:"proposal_id"`
	OID        string `json:"oid"`
	Path       string `json:"path"`
	Author     string `json:"author"`
}

// ProposeRetract is the capstore half of propose_retract (T-propose_retract-4…8).
type ProposeRetract struct {
	Actor
	ProposalID string `json:"proposal_id"`
	Path       string `json:"path"`
	OpID       string `json:"op_id"`
}

// ProposeRetractResult answers ProposeRetract.
type ProposeRetractResult struct {
	ProposalID string `json:"proposal_id"`
	Retracted  string `json:"retracted"`
	OID        string `json:"oid"`
}

// ProposeClose is the close of T-propose_close-4…6 and O-close-1 (Approver: the caller may
// close any proposal).
type ProposeClose struct {
	Actor
	ProposalID string `json:"proposal_id"`
	Reason     string `json:"reason"`
	OpID       string `json:"op_id"`
	Approver   bool   `json:"approver"`
}

// ProposeCloseResult answers ProposeClose.
type ProposeCloseResult struct {
	ProposalID string `json:"proposal_id"`
	Closed     bool   `json:"closed"`
	Reason     string `json:"reason"`
	OID        string `json:"oid,omitempty"`
	Already    bool   `json:"already,omitempty"`
}

// SupReconcile is the capstore half of sup_reconcile (T-sup_reconcile-4…7); CanonTip is the
// tip the gateway checked the cursor against.
type SupReconcile struct {
	Actor
	CanonTip    string `json:"canon_tip"`
	Body        string `json:"body"`
	AuthoredVia string `json:"authored_via,omitempty"`
	CanonState  string `json:"canon_state"`
}

// SupReconcileResult answers SupReconcile (the dedup shape sets Already).
type SupReconcileResult struct {
	Path        string `json:"path"`
	CanonCursor string `json:"canon_cursor"`
	Already     bool   `json:"already,omitempty"`
	OID         string `json:"oid,omitempty"`
	Subject     string `json:"subject,omitempty"`
}

// ProposalQuery names a proposal.
type ProposalQuery struct {
	ProposalID string `json:"proposal_id"`
}

// ProposalInfo is a proposal's gate state: existence, closed (C-prop-2), creator (C-prop-4).
type ProposalInfo struct {
	Exists       bool   `json:"exists"`
	Tip          string `json:"tip,omitempty"`
	Closed       bool   `json:"closed"`
	ClosedReason string `json:"closed_reason,omitempty"`
	Creator      string `json:"creator,omitempty"`
}

// ProposalStatus is C-prop-3.
type ProposalStatus struct {
	Status       string `json:"status"`
	ClosedReason string `json:"closed_reason,omitempty"`
	LandsBehind  *int   `json:"lands_behind,omitempty"`
}

// MarshalJSON writes closed_reason on every closed status, an empty reason too, and on no
// other (C-prop-3: `{status: closed, closed_reason}`).
func (s ProposalStatus) MarshalJSON() ([]byte, error) {
	type wire struct {
		Status       string  `json:"status"`
		ClosedReason *string `json:"closed_reason,omitempty"`
		LandsBehind  *int    `json:"lands_behind,omitempty"`
	}
	w := wire{Status: s.Status, LandsBehind: s.LandsBehind}
	if s.Status == "closed" {
		w.ClosedReason = &s.ClosedReason
	}
	return json.Marshal(w)
}

// ProposalStatuses answers list_proposals.
type ProposalStatuses struct {
	Proposals []string                  `json:"proposals"`
	Statuses  map[string]ProposalStatus `json:"statuses"`
}

// ChangedPathsQuery asks the exact paths differing between two commits ("" = empty tree).
type ChangedPathsQuery struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ChangedPathsAnswer lists them sorted.
type ChangedPathsAnswer struct {
	Paths []string `json:"paths"`
}

// Preview is O-merge-9 plus what conflict_preview and the CLI preview derive from it.
type Preview struct {
	Conflicts     []string          `json:"conflicts"`
	Authors       []string          `json:"authors"`
	Adds          []string          `json:"adds"`
	Removes       []string          `json:"removes"`
	Modifies      []string          `json:"modifies"`
	ChangedPaths  []string          `json:"changed_paths"`
	Clean         bool              `json:"clean"`
	CanonTip      string            `json:"canon_tip"`
	ProposalTip   string            `json:"proposal_tip"`
	LogEntries    []string          `json:"log_entries"`
	ExpectedSeq   string            `json:"expected_seq"`
	OriginAuthors map[string]string `json:"origin_authors,omitempty"` // path → origin_author on the proposal side
	ProposedBy    map[string]string `json:"proposed_by,omitempty"`    // path → newest author touching it on the proposal
}

// Land is the landing routine's input (O-land-*): console or airlock.
type Land struct {
	Actor
	ProposalID string `json:"proposal_id"`
	ApprovedBy string `json:"approved_by"`
	Evidence   string `json:"evidence"`
	// Candidate, when set, is the candidate oid the approval binds (airlock); the console
	// prepares and binds in one step.
	Candidate string `json:"candidate,omitempty"`
}

// LandResult is O-land-9.
type LandResult struct {
	Landed  string    `json:"landed"`
	Seq     string    `json:"seq"`
	Display string    `json:"display"`
	Anchor  AuditHead `json:"anchor"`
}

// CmdPrepareMerge prepares a proposal's candidate without moving canon (airlock stage).
const CmdPrepareMerge = "prepare_merge"

// Prepared is O-merge-10's result plus the validated log seq (O-land-3) a stage records.
type Prepared struct {
	Candidate    string   `json:"candidate_oid"`
	Into         string   `json:"into"`
	ProposalRef  string   `json:"proposal_ref"`
	CanonTip     string   `json:"canon_tip"`
	Seq          string   `json:"seq"`
	ChangedPaths []string `json:"changed_paths"`
}

// Capstore queries of the practitioner's cockpit (admin only: the gateway's grant of every
// capstore query excludes them, pkg/bus permissions).
const (
	// QProposalSummaries answers the proposals page in one query, whatever the number of
	// proposals: per proposal its creator (C-prop-4), age, entry count and threads.
	QProposalSummaries = "proposal_summaries"
	// QRefTips answers the tip commit of every ref under a prefix (ListRefsQuery): the seats
	// page's last write per perspective.
	QRefTips = "ref_tips"
)

// ProposalSummariesQuery names the proposals to summarise; none names every proposal.
type ProposalSummariesQuery struct {
	IDs []string `json:"ids,omitempty"`
}

// ProposalSummary is one proposal's line on the cockpit's proposals page.
type ProposalSummary struct {
	// Creator is C-prop-4's creator ("" for an empty or fully landed branch).
	Creator string `json:"creator,omitempty"`
	// CreatedAt is the Unix time of the proposal's oldest commit not on canon (the creator's),
	// else of its tip; UpdatedAt is its tip's.
	CreatedAt int64 `json:"created_at"`
	UpdatedAt int64 `json:"updated_at"`
	// Entries counts the paths the proposal changed since its merge base with canon; nil when
	// every commit of it is on canon (landed or empty).
	Entries *int `json:"entries,omitempty"`
	// Threads are the sorted distinct thread tags of the changed entries on the proposal side.
	Threads []string `json:"threads"`
}

// ProposalSummaries answers QProposalSummaries by proposal id; an unknown id is absent.
type ProposalSummaries struct {
	Summaries map[string]ProposalSummary `json:"summaries"`
}

// RefTip is one ref's tip commit: its author seat (C-commit-4), subject and Unix time.
type RefTip struct {
	Name    string `json:"name"`
	OID     string `json:"oid"`
	Author  string `json:"author"`
	Subject string `json:"subject"`
	Time    int64  `json:"time"`
}

// RefTips answers QRefTips in ref byte order.
type RefTips struct {
	Tips []RefTip `json:"tips"`
}
