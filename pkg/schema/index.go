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
