package schema

// Indexer query names (stasima.index.q.<name>), named here so that callers never spell a
// subject as a string literal (search.md §5–§8, S-40…S-71).
const (
	QIndexInbox          = "inbox"
	QIndexVantagesFor    = "vantages_for"
	QIndexThreads        = "threads"
	QIndexThreadEntries  = "thread_entries"
	QIndexArgTerms       = "arg_terms"
	QIndexArgDefinitions = "arg_definitions"
	QIndexStatusOf       = "status_of"
	QIndexEnvelopesFor   = "envelopes_for"
	QIndexSearch         = "search"
	QIndexAuthorsOf      = "authors_of"
	QIndexAuthorsOfBody  = "authors_of_body"
	// QIndexAwait is the read-your-writes barrier: answered once the index has applied a stream
	// sequence.
	QIndexAwait = "await"
	// QIndexAttention is the practitioner's unread count (T-common-20, S-45).
	QIndexAttention = "attention"
	// QIndexWatermark answers the last EVENTS stream sequence the index has applied.
	QIndexWatermark = "watermark"
)

// AttentionQuery names a seat and the message paths it has read receipts for (read state lives
// in audit, U-16; the inbox in the index).
type AttentionQuery struct {
	Seat string   `json:"seat"`
	Read []string `json:"read"`
}

// AttentionAnswer is how many of the seat's flat inbox messages (S-40/S-41, superseded ones
// included: not the frontier) are not in the query's read paths (T-common-20).
type AttentionAnswer struct {
	Unread int `json:"unread"`
}

// InboxQuery names the seats whose flat inboxes are wanted (inbox; one seat for imp_check and
// the CLI, the roster for the cockpit) (S-40, S-41).
type InboxQuery struct {
	Seats []string `json:"seats"`
}

// VantagesQuery is S-51 with vap_for's paging (T-vap_for-2). All skips paging (kip_get's
// with_vantages); Full adds the horizon (detail=full). Every field but Entry is omitted at its
// zero value, which the indexer reads the same as absent.
type VantagesQuery struct {
	Entry      string `json:"entry"`
	Author     string `json:"author,omitempty"`
	CanonState string `json:"canon_state,omitempty"`
	Limit      int    `json:"limit,omitempty"`
	Offset     int    `json:"offset,omitempty"`
	Full       bool   `json:"full,omitempty"`
	All        bool   `json:"all,omitempty"`
}

// SearchQuery is map_search (S-10…S-15). Limit nil means the indexer's default; a Limit below
// 1 returns no hits (D-16).
type SearchQuery struct {
	InstanceID        string `json:"instance_id"`
	Query             string `json:"query"`
	Scope             string `json:"scope"`
	Type              string `json:"type"`
	Limit             *int   `json:"limit,omitempty"`
	IncludeSuperseded bool   `json:"include_superseded"`
	IncludeWeak       bool   `json:"include_weak"`
}

// PathQuery names a path (authors_of, S-50).
type PathQuery struct {
	Path string `json:"path"`
}

// BodyQuery carries a body (authors_of_body, S-52).
type BodyQuery struct {
	Body string `json:"body"`
}

// ThreadQuery is thread_entries(tag, limit, offset) (S-62).
type ThreadQuery struct {
	Thread string `json:"thread"`
	Limit  int    `json:"limit"`
	Offset int    `json:"offset"`
}

// TermQuery names one argot term, already reduced to its last segment without ".md" (S-71).
type TermQuery struct {
	Term string `json:"term"`
}

// IndexAwaitQuery is the index barrier (ARCH-7, S-30): answered once the EVENTS stream sequence
// StreamSeq is applied, or failed after TimeoutMS (0 means the indexer's default).
type IndexAwaitQuery struct {
	StreamSeq uint64 `json:"stream_seq"`
	TimeoutMS int    `json:"timeout_ms"`
}
