package schema

import "encoding/json"

// Audit command verbs (stasima.audit.cmd.<verb>) and query names (stasima.audit.q.<name>).
const (
	CmdAuditAnchor    = "anchor"
	CmdAuditReconcile = "reconcile"
	CmdAuditRestore   = "restore"

	QAuditAwait   = "await"
	QAuditEvents  = "events"
	QAuditLatest  = "latest"
	QAuditIsRead  = "is_read"
	QAuditCount   = "count"
	QAuditHead    = "head"
	QAuditVerify  = "verify"
	QAuditHeadAt  = "head_at"
	QAuditStatus  = "status"
	EvtAuditAdded = "audit.appended"

	// CmdAnchor is capstore's command that commits {seq, head} to refs/cap/audit-anchor.
	CmdAnchor = "anchor"
	// CmdCheckpoint is capstore's command that commits a signed audit checkpoint to
	// refs/cap/audit-checkpoint; the audit service alone sends it.
	CmdCheckpoint = "audit_checkpoint"
	// QAnchorHead reads the anchor's audit-head.json; QCommitOps lists op-id commits for
	// reconcile-from-git (U-40).
	QAnchorHead = "anchor_head"
	QCommitOps  = "commit_ops"
)

// AuditIntent is the data of an audit.intent message on the AUDIT stream: exactly the hashed
// fields of audit.md minus seq, ts and prev_hash, which the audit service assigns (README §2.2),
// plus the intent id (U-5) and the session tag (U-20). Nil pointers are SQL NULL.
type AuditIntent struct {
	ID         string          `json:"id"`
	Actor      string          `json:"actor"`
	Op         string          `json:"op"`
	TargetRef  *string         `json:"target_ref"`
	TargetPath *string         `json:"target_path"`
	OpID       *string         `json:"op_id"`
	ResultOID  *string         `json:"result_oid"`
	Outcome    string          `json:"outcome,omitempty"`
	Detail     json.RawMessage `json:"detail,omitempty"`
	Session    string          `json:"session,omitempty"`
}

// S returns a pointer to s, or nil for "": the NULL of an intent field.
func S(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Detail encodes an ordered detail object from key/value pairs (keys keep their order in the
// stored text, U-62).
func Detail(kv ...any) json.RawMessage {
	if len(kv) == 0 {
		return json.RawMessage("{}")
	}
	b := []byte{'{'}
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(kv[i])
		v, err := json.Marshal(kv[i+1])
		if err != nil {
			v = []byte("null")
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}')
}

// AuditRow is one audit_events row as queries return it, detail parsed.
type AuditRow struct {
	Seq        int64           `json:"seq"`
	TS         *string         `json:"ts"`
	Actor      *string         `json:"actor"`
	Op         *string         `json:"op"`
	TargetRef  *string         `json:"target_ref"`
	TargetPath *string         `json:"target_path"`
	OpID       *string         `json:"op_id"`
	ResultOID  *string         `json:"result_oid"`
	Outcome    *string         `json:"outcome"`
	Detail     json.RawMessage `json:"detail"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
	IntentID   string          `json:"intent_id,omitempty"`
}

// AwaitQuery asks the audit service to answer once intent ID is appended (ARCH-6, U-6).
type AwaitQuery struct {
	IDs       []string `json:"ids"`
	TimeoutMS int      `json:"timeout_ms"`
}

// AwaitAnswer carries the appended rows, index for index.
type AwaitAnswer struct {
	Rows []AuditRow `json:"rows"`
}

// AuditFilter selects rows (U-14, U-15); nil fields do not filter.
//
// Window, Purpose and Object match the detail members of that name, the keys the airlock finds
// its rows by (totp_accept, totp_reject, oauth_approve), through an index. events pages: it
// answers at most Limit rows (AuditPageDefault when 0, never more than AuditPageMax, and fewer
// when their bytes would crowd the bus's payload limit) with seq > AfterSeq, ascending, or with
// Desc the highest seqs below BeforeSeq (when non-zero) first. AuditRows.Next is the cursor of
// the next page. latest ignores Limit, Desc and the cursors except as seq bounds.
type AuditFilter struct {
	Op         *string `json:"op,omitempty"`
	Actor      *string `json:"actor,omitempty"`
	OpID       *string `json:"op_id,omitempty"`
	TargetRef  *string `json:"target_ref,omitempty"`
	TargetPath *string `json:"target_path,omitempty"`

	Window  *int64  `json:"window,omitempty"`
	Purpose *string `json:"purpose,omitempty"`
	Object  *string `json:"object,omitempty"`

	AfterSeq  int64 `json:"after_seq,omitempty"`
	BeforeSeq int64 `json:"before_seq,omitempty"`
	Limit     int   `json:"limit,omitempty"`
	Desc      bool  `json:"desc,omitempty"`

	// NoDetail answers latest's row with a null detail: the canon cursor reads result_oid
	// alone, and a first pull's canon_pull detail names every canon path (issue 15).
	NoDetail bool `json:"no_detail,omitempty"`
}

// Page sizes of stasima.audit.q.events.
const (
	AuditPageDefault = 500
	AuditPageMax     = 1000
)

// AuditRows answers events. Next is 0 on the last page; otherwise the caller asks again with
// AfterSeq = Next (ascending) or BeforeSeq = Next (Desc) for the following page.
type AuditRows struct {
	Rows []AuditRow `json:"rows"`
	Next int64      `json:"next,omitempty"`
}

// AuditLatest answers latest: Row is nil when nothing matches.
type AuditLatest struct {
	Row *AuditRow `json:"row"`
}

// IsReadQuery asks U-16.
type IsReadQuery struct {
	Actor string `json:"actor"`
	Path  string `json:"path"`
}

// IsReadAnswer answers U-16.
type IsReadAnswer struct {
	Read bool `json:"read"`
}

// AuditHead is {seq, head}: seq is count() (U-13) and head the last row's hash (U-11).
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Head string `json:"head"`
}

// HeadAtQuery asks head_at(seq) (U-12).
type HeadAtQuery struct {
	Seq int64 `json:"seq"`
}

// VerifyAnswer is O-verify-1: the chain (U-10) and the anchor (U-52) together.
type VerifyAnswer struct {
	OK            bool   `json:"audit_verify_ok"`
	FirstBadSeq   *int64 `json:"first_bad_seq"`
	AuditVsAnchor *bool  `json:"audit_vs_anchor"`
}

// AuditStatus is the audit part of admin status (O-status-1).
type AuditStatus struct {
	Events        int64 `json:"audit_events"`
	VerifyOK      bool  `json:"audit_verify_ok"`
	AuditVsAnchor *bool `json:"audit_vs_anchor"`
}

// Anchor asks capstore to commit {seq, head} on refs/cap/audit-anchor (U-50).
type Anchor struct {
	Actor
	Seq  int64  `json:"seq"`
	Head string `json:"head"`
}

// AnchorResult answers Anchor and AnchorHead.
type AnchorResult struct {
	Found    bool   `json:"found"`
	Seq      int64  `json:"seq"`
	Head     string `json:"head"`
	OID      string `json:"oid,omitempty"`
	Replayed bool   `json:"replayed,omitempty"`
}

// CheckpointCommit asks capstore to commit a signed checkpoint note (C2SP tlog-checkpoint) on
// refs/cap/audit-checkpoint, each checkpoint a commit whose parent is the previous one. Note is
// the whole signed note; capstore reads its size and root from it and never moves the ref to a
// smaller tree.
type CheckpointCommit struct {
	Actor
	Note string `json:"note"`
}

// CheckpointResult answers CheckpointCommit. Replayed: the tip already held this checkpoint.
// Superseded: the tip holds a larger tree, so nothing was written.
type CheckpointResult struct {
	Size       uint64 `json:"size"`
	OID        string `json:"oid,omitempty"`
	Replayed   bool   `json:"replayed,omitempty"`
	Superseded bool   `json:"superseded,omitempty"`
}

// CommitOp is one commit with an op-id trailer, as reconcile scans them (U-40).
type CommitOp struct {
	Ref    string `json:"ref"`
	OID    string `json:"oid"`
	OpID   string `json:"op_id"`
	Author string `json:"author"`
}

// CommitOpsAnswer lists CommitOps in scan order.
type CommitOpsAnswer struct {
	Commits []CommitOp `json:"commits"`
}

// ReconcileResult is O-reconcile-1.
type ReconcileResult struct {
	Backfilled int `json:"backfilled"`
}

// Restore imports a SQLite audit snapshot into an empty table (O-restore-2).
type Restore struct {
	Actor
	File string `json:"file"`
}

// RestoreResult answers Restore.
type RestoreResult struct {
	Restored int64        `json:"restored"`
	Verify   VerifyAnswer `json:"verify"`
}

// QAuditPortBindings answers the port table of U-17.
const QAuditPortBindings = "port_bindings"

// PortBinding is one port's current seat (nil after a clear) and when it was set.
type PortBinding struct {
	Instance *string `json:"instance"`
	TS       string  `json:"ts"`
}

// Transparency log queries (stasima.audit.q.<name>) and the proof file kinds.
const (
	// QAuditCheckpoint answers the latest signed checkpoint and the log's verifier key.
	QAuditCheckpoint = "checkpoint"
	// QAuditProve answers an inclusion proof (TlogProveQuery.Seq) or a consistency proof
	// (TlogProveQuery.From) against the latest checkpoint.
	QAuditProve = "prove"
	// QAuditConsistency answers only consistency proofs (TlogProveQuery.From), the public
	// half of prove that the gateway serves to witnesses (POST /checkpoint/consistency).
	QAuditConsistency = "consistency"

	TlogInclusion   = "inclusion"
	TlogConsistency = "consistency"
)

// TlogCheckpoint is the latest signed checkpoint of the audit log: Note is the C2SP
// tlog-checkpoint signed note (origin, size, base64 root hash, signature lines) and Key the
// log's public key as a note verifier string. Note is empty before the first checkpoint.
type TlogCheckpoint struct {
	Note string `json:"checkpoint"`
	Key  string `json:"key"`
	Size uint64 `json:"size"`
}

// TlogProveQuery asks for an inclusion proof of the row Seq, or, with From (an earlier signed
// checkpoint note), a consistency proof from it to the latest checkpoint.
type TlogProveQuery struct {
	Seq  int64  `json:"seq,omitempty"`
	From string `json:"from,omitempty"`
}

// TlogProof is the proof file `stasima admin prove` writes and `stasima verify-proof` checks
// with only the log's public key. Kind "inclusion": Row (its seq names leaf seq-1), LeafHash
// (hex, RFC 6962 leaf hash of the row's chain hash) and Proof lead to Checkpoint's root. Kind
// "consistency": Proof shows OldCheckpoint's tree is a prefix of Checkpoint's. Proof holds
// base64 SHA-256 node hashes in RFC 6962 order.
type TlogProof struct {
	Kind          string    `json:"kind"`
	Checkpoint    string    `json:"checkpoint"`
	OldCheckpoint string    `json:"old_checkpoint,omitempty"`
	Row           *AuditRow `json:"row,omitempty"`
	LeafHash      string    `json:"leaf_hash,omitempty"`
	Proof         []string  `json:"proof"`
}

// AuditAppended is the data of an audit.appended event (U-3): the row appended for IntentID.
// Op, Actor and Outcome are null for a NULL column, as in the row.
type AuditAppended struct {
	Seq      int64   `json:"seq"`
	Op       *string `json:"op"`
	Actor    *string `json:"actor"`
	Outcome  *string `json:"outcome"`
	Hash     string  `json:"hash"`
	IntentID string  `json:"intent_id"`
}
