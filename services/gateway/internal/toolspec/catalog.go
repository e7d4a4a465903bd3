package toolspec

// catalog is the registry of tools.md: exactly the 29 tools of §0 in registration order, each
// with its parameter table in table order. Descriptions state every "Description must mention"
// point of the tool's section (T-common-18). The tools removed in 0.1.5 (orientation,
// canon_head, proposal_status, sup_who, my_perspective, imp_flags_all) are deliberately absent.
var catalog = []Tool{
	{
		Name: "announce",
		Description: "Arrive and orient. Returns the orientation for instance_id: the rendered " +
			"orientation text, the canon head (canon tip oid, or null before the first land), the " +
			"caller's perspective tip (refs/cap/perspectives/<instance_id>, or null before its first " +
			"write) and the practitioner's unread attention count. If a differently-cased perspective " +
			"already holds the name, name_warning names it and says writes under the claimed name " +
			"will be refused. Announce is a pure read: it creates no perspective, writes no audit row " +
			"and binds no session.",
		Params: []Param{
			req("instance_id", String),
		},
	},
	{
		Name: "whoami",
		Description: "Reports who the gateway takes instance_id to be: its perspective ref, " +
			"namespace, the write ops allowed there, and the session binding block " +
			"{mode, bound_instance, source, match[, port]}: the binding mode (strict, witness or off), " +
			"the bound name, its source (pinned, port or session) and whether instance_id matches it. " +
			"The block is always present. Mode off is the server-owned downgrade (no learning, no " +
			"enforcement); no tool argument can change the mode. Identity is a recorded name; the " +
			"session binding guards writes.",
		Params: []Param{
			req("instance_id", String),
		},
	},
	{
		Name: "kip_commit",
		Description: "Commits one knowledge entry at <domain>/<slug>.md on your perspective " +
			"(refs/cap/perspectives/<instance_id>). Bodies are immutable: supersede, do not edit. " +
			"To revise, commit the new version under a new slug with supersedes=[old path], then " +
			"re-commit the old path with the identical body, status=\"superseded\" and " +
			"superseded_by=[new path]; a changed body on an existing path is refused. " +
			"tick= is for state entries only (domain \"state\"): a hex seq, leading ':' dropped. " +
			"thread= tags the entry with a thread and must be ref-safe: 1-64 characters of a-z, 0-9 " +
			"and '-', not starting with '-'. horizon= is the fold: the entry and a confirmed vantage " +
			"on it (vantages/<op_id>-vap.md, titled horizon_title) land in one commit under one " +
			"op_id. op_id makes the call idempotent: repeating it at your tip replays " +
			"(replayed: true) without writing; each new act takes a new op_id. messages/ and " +
			"vantages/ paths are refused here (use imp_send and vap_record).",
		Params: []Param{
			req("instance_id", String),
			req("domain", String),
			req("slug", String),
			req("body", String),
			req("op_id", String),
			opt("title", String, ""),
			opt("type", String, "kno"),
			nullable("tags", NullableStringArray),
			nullable("references", NullableStringArray),
			nullable("supersedes", NullableStringArray),
			opt("status", String, "active"),
			nullable("superseded_by", NullableStringArray),
			opt("horizon", String, ""),
			opt("horizon_title", String, ""),
			opt("tick", String, ""),
			opt("thread", String, ""),
		},
	},
	{
		Name: "kip_get",
		Description: "Reads one entry. ref is canon (or main), a seat name, or a full refs/... " +
			"name; path is normalized to a .md entry path. resolve=\"live\" (the default) follows " +
			"supersession on the same ref, up to 10 hops, and lists the paths left behind in " +
			"resolved_from; resolve=\"exact\" returns the edition at path as it is. " +
			"with_vantages=true adds the vantages bound to the returned path. A miss fails naming " +
			"the other refs that hold the path; content never silently crosses refs.",
		Params: []Param{
			req("ref", String),
			req("path", String),
			opt("resolve", String, "live"),
			opt("with_vantages", Boolean, false),
		},
	},
	{
		Name: "list_entries",
		Description: "Lists every file in a ref's tree, recursively, as full paths, each with the " +
			"title, status and type the index holds (plus tick and thread when set; empty strings " +
			"when the index does not know the path). A non-empty path filters to that exact file " +
			"or directory subtree, matched at component boundaries, without wildcards; an unknown " +
			"filter lists nothing.",
		Params: []Param{
			req("ref", String),
			opt("path", String, ""),
		},
	},
	{
		Name: "kip_history",
		Description: "Returns the commit history of one path on a ref, newest first, as " +
			"git log -- <path> walks it: each {oid, author, subject, title}, where author is the " +
			"commit's author and title is the entry's title at that commit.",
		Params: []Param{
			req("ref", String),
			req("path", String),
		},
	},
	{
		Name: "propose",
		Description: "Writes one entry at <domain>/<slug>.md onto proposal " +
			"refs/cap/proposals/<proposal_id>, creating the proposal at canon's tip on first use. " +
			"Reconcile first: run canon_diff, then sup_reconcile; a perspective not reconciled with " +
			"current canon is refused. Each proposal carries exactly one log entry: " +
			"domain='meta/log', slug=<seq>, type='log', seq=<seq>, where seq is canon_state's " +
			"next_seq (checked here). Proposing another seat's work requires " +
			"origin_author=<that seat>. thread= on the log entry tags the land with that thread. " +
			"op_id makes a retry replay instead of writing twice.",
		Params: []Param{
			req("instance_id", String),
			req("proposal_id", String),
			req("domain", String),
			req("slug", String),
			req("body", String),
			req("op_id", String),
			opt("title", String, ""),
			opt("type", String, "kno"),
			opt("seq", String, ""),
			nullable("tags", NullableStringArray),
			nullable("references", NullableStringArray),
			nullable("supersedes", NullableStringArray),
			opt("status", String, "active"),
			nullable("superseded_by", NullableStringArray),
			opt("origin_author", String, ""),
			opt("thread", String, ""),
		},
	},
	{
		Name: "propose_retract",
		Description: "Retracts one path from a proposal: a canon-held path reverts to canon's " +
			"edition, an added path leaves the proposal's tree. Never a canon deletion: a retract " +
			"cannot remove anything from canon. Only the proposal's creator may retract.",
		Params: []Param{
			req("instance_id", String),
			req("proposal_id", String),
			req("path", String),
			req("op_id", String),
		},
	},
	{
		Name: "conflict_preview",
		Description: "Previews merging a proposal into canon without creating a candidate: " +
			"conflicts and conflict_detail, changed_paths, and the typed delta adds, removes and " +
			"modifies. Canon is append-only: removes non-empty means the land will be refused " +
			"(would_remove_canon). attributions shows authored-vs-proposed for each changed path " +
			"whose entry names an origin_author: who authored it and who proposed it.",
		Params: []Param{
			req("proposal_id", String),
		},
	},
	{
		Name: "perf_scry",
		Description: "Returns capstore's storage-operation ledger since capstore started: the " +
			"git_calls and git_ms totals and, per git verb, {n, ms, avg_ms, max_ms}, heaviest first.",
	},
	{
		Name: "propose_close",
		Description: "Closes a proposal with a reason. Closed is terminal for seats; closing an " +
			"already-closed proposal returns already: true with the existing reason. Only the " +
			"proposal's creator or a configured approver may close it.",
		Params: []Param{
			req("instance_id", String),
			req("proposal_id", String),
			req("reason", String),
			req("op_id", String),
		},
	},
	{
		Name: "list_proposals",
		Description: "Lists proposal ids in ref order with each one's status " +
			"{status, closed_reason, lands_behind}; lands_behind is reported raw, without judgement.",
	},
	{
		Name: "list_instances",
		Description: "Lists every seat holding a perspective, in ref order, as " +
			"{instances: [...]}, with current_with_canon per seat: whether the seat's last " +
			"canon_diff pull is at the current canon tip.",
	},
	{
		Name: "map_search",
		Description: "Semantic search over the map. Returns attributed pointers (path, ref, " +
			"author, is_canon, type, title, status, score, preview), not bodies; read a hit with " +
			"kip_get. scope is canon, mine (your own perspective) or all (the default). Live-only by " +
			"default: only active entries unless include_superseded=true. Messages and vantages are " +
			"never searched. Hits below the relevance floor are withheld and counted in " +
			"below_floor; include_weak=true returns them too. type filters by entry type; limit " +
			"caps the hits.",
		Params: []Param{
			req("instance_id", String),
			req("query", String),
			opt("scope", String, "all"),
			nullable("type", NullableString),
			opt("limit", Integer, 10),
			opt("include_superseded", Boolean, false),
			opt("include_weak", Boolean, false),
		},
	},
	{
		Name: "thread_scry",
		Description: "Without thread: every thread tag in use with its count, authors and latest " +
			"entry. With thread: that thread's entries, newest first, paged by limit (negative = no " +
			"limit) and offset, with count, total and truncated.",
		Params: []Param{
			opt("thread", String, ""),
			opt("limit", Integer, 16),
			opt("offset", Integer, 0),
		},
	},
	{
		Name: "arg_scry",
		Description: "Without term: every defined term with its definition, tree and canon counts. " +
			"With term (its last path segment, .md dropped): the term's definitions, each with a " +
			"preview, whether canon holds it, and its holders.",
		Params: []Param{
			opt("term", String, ""),
		},
	},
	{
		Name: "imp_send",
		Description: "Sends a message to recipients: written to messages/<op_id>.md on the " +
			"sender's perspective. instance_id is the canonical sender name; sender is its " +
			"deprecated twin: pass exactly one. coordinates are paths (the entries the message is " +
			"about). supersedes retires your own earlier messages only, by path. thread= tags the " +
			"message with a thread. op_id makes a retry replay instead of sending twice.",
		Params: []Param{
			req("recipients", StringArray),
			req("subject", String),
			req("body", String),
			req("op_id", String),
			opt("instance_id", String, ""),
			opt("sender", String, ""),
			nullable("coordinates", NullableStringArray),
			nullable("supersedes", NullableStringArray),
			opt("thread", String, ""),
		},
	},
	{
		Name: "imp_check",
		Description: "Returns the messages in instance_id's inbox (path, from, subject, " +
			"coordinates, ref, supersedes, superseded_by); unread only by default, " +
			"unread_only=false for all.",
		Params: []Param{
			req("instance_id", String),
			opt("unread_only", Boolean, true),
		},
	},
	{
		Name: "imp_flags",
		Description: "Unread message counts. With instance_id: {unread, from} for that seat. " +
			"Without: {unread, from} for every seat, and the roster size.",
		Params: []Param{
			opt("instance_id", String, ""),
		},
	},
	{
		Name: "imp_mark_read",
		Description: "Marks message_path read for instance_id by recording a read receipt. " +
			"Repeating it is harmless.",
		Params: []Param{
			req("instance_id", String),
			req("message_path", String),
		},
	},
	{
		Name: "vap_record",
		Description: "Records a vantage, your horizon on an entry, at vantages/<op_id>.md on your " +
			"perspective, bound to the entry path in binds. Vantages are excluded from universal " +
			"search (map_search never returns them); they are surfaced via vap_for. kind is " +
			"\"confirmed\" (the default) or \"reconstructed\": confirmed only on your own entry; a " +
			"confirmed vantage on another seat's entry is refused, record it as reconstructed. The " +
			"canon state is server-pinned from your last canon_diff pull; no argument sets it. " +
			"title defaults to \"vantage on <binds>\".",
		Params: []Param{
			req("instance_id", String),
			req("binds", String),
			req("horizon", String),
			req("op_id", String),
			opt("kind", String, "confirmed"),
			opt("title", String, ""),
		},
	},
	{
		Name: "vap_for",
		Description: "Projects vantages by entry (exact path), author and canon_state; an empty " +
			"filter matches everything. Pointers by default (a 240-character preview of each " +
			"horizon); detail=\"full\" adds the full horizon. Newest-first and bounded: limit rows " +
			"per page, offset to page on, with count, total and truncated. Recovery convention: " +
			"after losing context, call vap_for(author=<you>, detail=\"full\") to read back your " +
			"own horizons. Vantages surface only here; search never returns them.",
		Params: []Param{
			opt("entry", String, ""),
			opt("author", String, ""),
			opt("canon_state", String, ""),
			opt("detail", String, "pointer"),
			opt("limit", Integer, 16),
			opt("offset", Integer, 0),
		},
	},
	{
		Name: "canon_diff",
		Description: "Pulls canon: a pointer diff of the paths changed since your last pull " +
			"(each with title, type and status, or removed: true) plus the full log narratives " +
			"(bodies of the changed log entries). Other bodies are not returned: kip_get what " +
			"governs. Advances your canon cursor to the current tip, even when nothing changed; " +
			"run sup_reconcile next.",
		Params: []Param{
			req("instance_id", String),
		},
	},
	{
		Name: "sup_reconcile",
		Description: "Records that you have reconciled with current canon: writes " +
			"state/reconciled-<tip12>.md holding body on your perspective. Run canon_diff first; " +
			"a cursor behind canon is refused. Repeating it for the same tip returns already: true. " +
			"propose requires this record.",
		Params: []Param{
			req("instance_id", String),
			req("body", String),
		},
	},
	{
		Name: "sup_state",
		Description: "Reports a seat's state: its perspective tip, its state/ entries, the ticks " +
			"those entries carry, its canon cursor and whether it is current with canon.",
		Params: []Param{
			req("instance_id", String),
		},
	},
	{
		Name: "canon_state",
		Description: "Returns canon's state: canon_tip (null before the first land), seq as " +
			"lowercase hex, display (:: and uppercase hex), next_seq, the practitioner's attention " +
			"count, every canon path, the last 10 lands and the audit log's latest signed " +
			"checkpoint (verify it with stasima verify-proof). A proposal's log entry must carry " +
			"seq = this seq + 1, which is next_seq.",
	},
	{
		Name: "stage_approve",
		Description: "Approval relay, step 1 of the two-code flow: stages proposal_id with the " +
			"practitioner's first TOTP code. Landing takes a second code from a strictly later " +
			"window via land_approve, once the review floor has passed (lands_after) and before " +
			"expires_at. The approval is content-bound to the staged oid: exactly the staged " +
			"content lands. Abort is free: stage_revert needs no code. No identity parameter.",
		Params: []Param{
			req("proposal_id", String),
			req("code", String),
		},
	},
	{
		Name: "land_approve",
		Description: "Approval relay, step 2 of the two-code flow: lands the staged proposal " +
			"whose staged oid starts with staged_oid_prefix, with a second TOTP code from a later " +
			"window than the staging code. Refused until the review floor has elapsed since " +
			"staging. Content binding: the prefix must name the staged oid, so exactly the " +
			"reviewed content lands. Abort is free: use stage_revert instead. No identity parameter.",
		Params: []Param{
			req("staged_oid_prefix", String),
			req("code", String),
		},
	},
	{
		Name: "stage_revert",
		Description: "Approval relay abort: returns a staged proposal to open. Abort is free: " +
			"it takes no code. It ends the two-code flow (stage with one code, land with a later " +
			"one after the review floor, content-bound to the staged oid). No identity parameter.",
		Params: []Param{
			req("proposal_id", String),
		},
	},
}
