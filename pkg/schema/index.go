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

// Index command verbs (stasima.index.cmd.<verb>).
const (
	// CmdIndexReindex rebuilds the whole index from git (S-34, INV-7).
	CmdIndexReindex = "reindex"
)

// ReindexResult answers CmdIndexReindex with the number of rows the rebuild wrote (S-34).
type ReindexResult struct {
	Reindexed int `json:"reindexed"`
}

// InboxMessage is one item of a flat inbox: the message's authored fields only, and
// SupersededBy the path of the same author's message that supersedes it, or "" (S-41, S-42).
type InboxMessage struct {
	Path         string   `json:"path"`
	From         string   `json:"from"`
	Subject      string   `json:"subject"`
	Coordinates  []string `json:"coordinates"`
	Ref          string   `json:"ref"`
	Supersedes   []string `json:"supersedes"`
	SupersededBy string   `json:"superseded_by"`
}

// InboxAnswer maps each requested seat to its flat inbox, tombstones resolved over the whole
// inbox, ins_seq ascending; read state is not the index's, it lives in audit (S-41).
type InboxAnswer struct {
	Inboxes map[string][]InboxMessage `json:"inboxes"`
}

// Vantage is one vantage on an entry as vap_for lists it, with the status of the entry it
// binds; Horizon only with Full or All (T-vap_for-3, T-vap_for-4).
type Vantage struct {
	Path        string   `json:"path"`
	Ref         string   `json:"ref"`
	Author      string   `json:"author"`
	Binds       []string `json:"binds"`
	Vantage     string   `json:"vantage"`
	CanonState  string   `json:"canon_state"`
	Title       string   `json:"title"`
	Preview     string   `json:"preview"`
	BindsStatus string   `json:"binds_status"`
	Horizon     *string  `json:"horizon,omitempty"`
}

// VantagesAnswer is one page of vap_for, counted so that a caller knows whether to ask for the
// next (T-vap_for-2).
type VantagesAnswer struct {
	Vantages  []Vantage `json:"vantages"`
	Count     int       `json:"count"`
	Total     int       `json:"total"`
	Truncated bool      `json:"truncated"`
	Offset    int       `json:"offset"`
}

// ThreadLatest names the newest row of a thread, so that a listing can link to it (S-61).
type ThreadLatest struct {
	Path string `json:"path"`
	Ref  string `json:"ref"`
}

// ThreadSummary is one tag of the threads listing: how many rows carry it, their sorted
// distinct authors and the newest row (S-61).
type ThreadSummary struct {
	Count   int          `json:"count"`
	Authors []string     `json:"authors"`
	Latest  ThreadLatest `json:"latest"`
}

// ThreadsAnswer is thread_scry with no tag, every thread by tag; tags marshal sorted
// (T-thread_scry-1).
type ThreadsAnswer struct {
	Threads map[string]ThreadSummary `json:"threads"`
}

// ThreadEntry is one row of a thread; Title falls back to the subject, which is all a message
// has (T-thread_scry-2).
type ThreadEntry struct {
	Path   string `json:"path"`
	Ref    string `json:"ref"`
	Author string `json:"author"`
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status string `json:"status"`
}

// ThreadAnswer is thread_scry for one tag, a page of its rows newest first; Offset echoes the
// query's unchanged (S-62, T-thread_scry-2).
type ThreadAnswer struct {
	Thread    string        `json:"thread"`
	Entries   []ThreadEntry `json:"entries"`
	Count     int           `json:"count"`
	Total     int           `json:"total"`
	Truncated bool          `json:"truncated"`
	Offset    int           `json:"offset"`
}

// ArgTerm is one argot term: how many distinct definitions it has, the sorted refs that hold
// it, and whether canon does (S-70).
type ArgTerm struct {
	Definitions int      `json:"definitions"`
	Trees       []string `json:"trees"`
	Canon       bool     `json:"canon"`
}

// ArgTermsAnswer is arg_scry with no term, every term; terms marshal sorted (T-arg_scry-1).
type ArgTermsAnswer struct {
	Terms map[string]ArgTerm `json:"terms"`
}

// ArgHolder is one row carrying a definition of a term, so that a reader sees who holds it
// where (S-71).
type ArgHolder struct {
	Ref    string `json:"ref"`
	Author string `json:"author"`
	Path   string `json:"path"`
	Status string `json:"status"`
}

// ArgDefinition is one distinct stripped body of a term with the rows that hold it (S-71).
type ArgDefinition struct {
	Preview string      `json:"preview"`
	Canon   bool        `json:"canon"`
	Holders []ArgHolder `json:"holders"`
}

// ArgDefinitionsAnswer is arg_scry for one term, its definitions canon first, then by holder
// count (T-arg_scry-2).
type ArgDefinitionsAnswer struct {
	Term        string          `json:"term"`
	Definitions []ArgDefinition `json:"definitions"`
	Count       int             `json:"count"`
}

// StatusOfAnswer is the status of a row at a path, canon rows preferred, "" when none (S-54).
type StatusOfAnswer struct {
	Status string `json:"status"`
}

// AuthorsAnswer lists the sorted distinct seats that authored a row at a path, for the
// cross-propose attribution guard (S-50).
type AuthorsAnswer struct {
	Authors []string `json:"authors"`
}

// AuthorPath is one author of a body and the path of their first row carrying it (S-52).
type AuthorPath struct {
	Author string `json:"author"`
	Path   string `json:"path"`
}

// BodyAuthorsAnswer lists each author whose row carries a body, with the path of their first
// such row in ins_seq order, in that order, so that a copied body is attributed (S-52).
type BodyAuthorsAnswer struct {
	Authors []AuthorPath `json:"authors"`
}

// WatermarkAnswer is the last EVENTS stream sequence the index has applied, the answer of both
// watermark and the await barrier (ARCH-7, S-30).
type WatermarkAnswer struct {
	StreamSeq uint64 `json:"stream_seq"`
}

// EntryEnvelope is the listing enrichment of one path, envelopes_for answering a map of them by
// path; Tick and Thread are omitted when empty (S-53).
type EntryEnvelope struct {
	Title  string `json:"title"`
	Status string `json:"status"`
	Type   string `json:"type"`
	Tick   string `json:"tick,omitempty"`
	Thread string `json:"thread,omitempty"`
}

// SearchHit is one map_search result, attributed to its author, ref and canon state so that a
// hit is never read as anyone's but its author's; Matched (hybrid mode only) names the sides
// that found it, and Score is always the rounded embedding score (S-13, INV-9).
type SearchHit struct {
	Path    string   `json:"path"`
	Ref     string   `json:"ref"`
	Author  string   `json:"author"`
	IsCanon bool     `json:"is_canon"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Status  string   `json:"status"`
	Score   float64  `json:"score"`
	Preview string   `json:"preview"`
	Matched []string `json:"matched,omitempty"`
}

// SearchResult is map_search's answer: the kept hits and how many were withheld under the score
// floor, so that a caller knows weaker matches exist (S-13, S-14).
type SearchResult struct {
	Results    []SearchHit `json:"results"`
	BelowFloor int         `json:"below_floor"`
}
