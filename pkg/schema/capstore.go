// Package schema declares the payloads that cross the bus: capstore commands and their results,
// capstore queries, and events. Types carry JSON tags and are versioned by the envelope; fields
// are added, never repurposed.
package schema

import "encoding/json"

// Capstore command verbs (stasima.capstore.cmd.<verb>).
const (
	CmdKipCommit = "kip_commit"
	CmdBootstrap = "bootstrap"
)

// Capstore query names (stasima.capstore.q.<name>).
const (
	QPing        = "ping"
	QResolveRef  = "resolve_ref"
	QReadBlob    = "read_blob"
	QListPaths   = "list_paths"
	QListRefs    = "list_refs"
	QHistory     = "history"
	QHolders     = "holders"
	QCanonSeq    = "canon_seq"
	QCommitCount = "commit_count"
)

// Event types (stasima.evt.<type>).
const (
	EvtGitCommit    = "git.commit"
	EvtGitBootstrap = "git.bootstrap"
	EvtGitAnchor    = "git.anchor"
)

// Actor carries who a command acts for and the audit session tag of the request.
type Actor struct {
	Seat    string `json:"seat"`
	Session string `json:"session,omitempty"`
}

// KipCommit is the capstore half of kip_commit (T-kip_commit-8…16): the gateway has applied
// rules 1–7 (validation, lanes, binding); capstore builds against the tip.
type KipCommit struct {
	Actor
	OpID         string   `json:"op_id"`
	Domain       string   `json:"domain"`
	Slug         string   `json:"slug"`
	Body         string   `json:"body"`
	Title        string   `json:"title"`
	Type         string   `json:"type"`
	Status       string   `json:"status"`
	Tags         []string `json:"tags"`
	References   []string `json:"references"`
	Supersedes   []string `json:"supersedes"`
	SupersededBy []string `json:"superseded_by"`
	Horizon      string   `json:"horizon"`
	HorizonTitle string   `json:"horizon_title"`
	Tick         string   `json:"tick"` // normalized by the gateway (T-kip_commit-4)
	Thread       string   `json:"thread"`
	AuthoredVia  string   `json:"authored_via,omitempty"`
	CanonState   string   `json:"canon_state"` // the writer's canon cursor or ""
}

// Folded reports the vantage half of a fold. CanonState is set whenever a fold was written, ""
// included (a writer with no canon cursor), and nil on a replay, which reports replayed instead
// (tools.md kip_commit returns).
type Folded struct {
	Path       string  `json:"path"`
	Vantage    string  `json:"vantage"`
	CanonState *string `json:"canon_state,omitempty"`
	Replayed   bool    `json:"replayed,omitempty"`
}

// KipCommitResult is capstore's answer to KipCommit.
type KipCommitResult struct {
	OID      string  `json:"oid"`
	Ref      string  `json:"ref"`
	Path     string  `json:"path"`
	OpID     string  `json:"op_id"`
	Author   string  `json:"author"`
	Replayed bool    `json:"replayed,omitempty"`
	Folded   *Folded `json:"folded,omitempty"`
	Note     string  `json:"note,omitempty"`
	// Written lists the paths of the commit actually written (empty on replay).
	Written []string `json:"written,omitempty"`
}

// SeedFile is one file of a bootstrap seed, path relative to the seed dir with '/' separators.
type SeedFile struct {
	Path string `json:"path"`
	Text string `json:"text"`
}

// Bootstrap seeds an empty canon (operations §4): the CLI has read and normalized the files.
type Bootstrap struct {
	Actor
	SeedDir string     `json:"seed_dir"`
	Files   []SeedFile `json:"files"`
}

// BootstrapResult answers Bootstrap.
type BootstrapResult struct {
	Bootstrapped string   `json:"bootstrapped"`
	Entries      []string `json:"entries"`
	Indexed      int      `json:"indexed"`
}

// RefQuery names a ref (already resolved to a full name by the caller).
type RefQuery struct {
	Ref string `json:"ref"`
	// Under, when set, keeps list_paths and envelopes_for to the path Under and the paths below
	// it (Under + "/…"), so a listing of one domain costs that domain, not the ref (issue 15).
	Under string `json:"under,omitempty"`
}

// RefAnswer is the tip of a ref, empty OID when absent.
type RefAnswer struct {
	Ref string `json:"ref"`
	OID string `json:"oid,omitempty"`
}

// BlobQuery reads a path at a ref (or at a commit when OID is set).
type BlobQuery struct {
	Ref  string `json:"ref,omitempty"`
	OID  string `json:"oid,omitempty"`
	Path string `json:"path"`
}

// BlobAnswer carries the blob bytes; Found=false when the ref or the path is missing.
type BlobAnswer struct {
	Found    bool   `json:"found"`
	RefFound bool   `json:"ref_found"`
	Commit   string `json:"commit,omitempty"`
	BlobOID  string `json:"blob_oid,omitempty"`
	Data     []byte `json:"data,omitempty"`
}

// QReadBlobs reads many paths at one commit in one request: the indexer's derivation of a
// reindex or a land, where one read_blob per path made a 100,000-entry reindex a queue of
// 100,000 capstore requests, each decoding its trees again (issue 15); and canon_diff's first
// pull of a whole canon. It reads nothing read_blob does not.
const QReadBlobs = "read_blobs"

// Bounds of one read_blobs request: at most MaxReadBlobsPaths paths asked, and an answer that
// stops before its blobs' bytes pass MaxReadBlobsBytes (it always holds at least one path), so
// a reply stays well under the bus's max_payload whatever the entries weigh.
const (
	MaxReadBlobsPaths = 1024
	MaxReadBlobsBytes = 4 << 20
)

// BlobsQuery names a commit and the paths to read in its tree (at most MaxReadBlobsPaths).
type BlobsQuery struct {
	OID   string   `json:"oid"`
	Paths []string `json:"paths"`
}

// BlobsAnswer answers the paths of a BlobsQuery in order: a prefix of them when the byte bound
// was reached, and the caller asks again from Blobs' length.
type BlobsAnswer struct {
	Commit string     `json:"commit"`
	Blobs  []PathBlob `json:"blobs"`
}

// PathBlob is one path of a BlobsAnswer; Found=false when the path is absent at the commit or
// is not a file.
type PathBlob struct {
	Path    string `json:"path"`
	Found   bool   `json:"found"`
	BlobOID string `json:"blob_oid,omitempty"`
	Data    []byte `json:"data,omitempty"`
}

// QCanonPositions asks C-pos-3 positions of paths on canon at a tip.
const QCanonPositions = "canon_positions"

// CanonPositionsQuery names the canon tip and the paths.
type CanonPositionsQuery struct {
	Tip   string   `json:"tip"`
	Paths []string `json:"paths"`
}

// CanonPositionsAnswer maps path → 1-based first-parent position (absent: never touched).
type CanonPositionsAnswer struct {
	Positions map[string]int `json:"positions"`
}

// ListPathsAnswer lists every file of a ref's tree in byte order, and names the commit whose
// tree it listed ("" when the ref is absent), so a reader can key what it keeps of the list.
type ListPathsAnswer struct {
	RefFound bool     `json:"ref_found"`
	OID      string   `json:"oid,omitempty"`
	Paths    []string `json:"paths"`
}

// ListPathsRawAnswer is ListPathsAnswer read with its paths left encoded, for a reader that
// only passes them on (canon_state's entries: issue 15, a 100k-path list decoded to be encoded).
type ListPathsRawAnswer struct {
	RefFound bool            `json:"ref_found"`
	OID      string          `json:"oid,omitempty"`
	Paths    json.RawMessage `json:"paths"`
}

// ListRefsQuery lists refs under a prefix.
type ListRefsQuery struct {
	Prefix string `json:"prefix"`
}

// RefEntry is one ref and its tip.
type RefEntry struct {
	Name string `json:"name"`
	OID  string `json:"oid"`
}

// ListRefsAnswer lists refs in byte order.
type ListRefsAnswer struct {
	Refs []RefEntry `json:"refs"`
}

// HistoryQuery asks for the path history of a ref (T-kip_history-2).
type HistoryQuery struct {
	Ref  string `json:"ref"`
	Path string `json:"path"`
}

// HistoryItem is one commit of a path history.
type HistoryItem struct {
	OID     string `json:"oid"`
	Author  string `json:"author"`
	Subject string `json:"subject"`
	Title   string `json:"title"`
}

// HistoryAnswer lists a path's history newest first.
type HistoryAnswer struct {
	RefFound bool          `json:"ref_found"`
	History  []HistoryItem `json:"history"`
}

// HoldersQuery asks which of canon and the perspectives hold a path (T-kip_get-2).
type HoldersQuery struct {
	Path string `json:"path"`
}

// HoldersAnswer names the holders: "canon" for canon, else seat names, in ref order.
type HoldersAnswer struct {
	Holders []string `json:"holders"`
}

// CanonSeqAnswer is canon's state sequence (C-log-3).
type CanonSeqAnswer struct {
	Seq uint64 `json:"seq"`
}

// GitCommitted is the data of a git.commit event.
type GitCommitted struct {
	Ref     string   `json:"ref"`
	OID     string   `json:"oid"`
	Parents []string `json:"parents"`
	OpID    string   `json:"op_id"`
	Author  string   `json:"author"`
	Subject string   `json:"subject"`
	Paths   []string `json:"paths"`
}

// GitBootstrapped is the data of a git.bootstrap event.
type GitBootstrapped struct {
	OID   string   `json:"oid"`
	Paths []string `json:"paths"`
}

// GitLanded is the data of a git.land event: canon moved to OID by the land of ProposalRef,
// from Parent (canon before it), as state Seq (lowercase hex).
type GitLanded struct {
	Ref         string `json:"ref"`
	OID         string `json:"oid"`
	Parent      string `json:"parent"`
	ProposalRef string `json:"proposal_ref"`
	Seq         string `json:"seq"`
	ApprovedBy  string `json:"approved_by"`
	Evidence    string `json:"evidence"`
}

// GitTagged is the data of a git.tag event (the state tag a land writes).
type GitTagged struct {
	Name string `json:"name"`
	OID  string `json:"oid"`
}

// GitAnchored is the data of a git.anchor event: the audit head {Seq, Head} committed as OID.
type GitAnchored struct {
	OID  string `json:"oid"`
	Seq  int64  `json:"seq"`
	Head string `json:"head"`
}
