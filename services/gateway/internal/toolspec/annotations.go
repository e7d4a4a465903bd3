package toolspec

// Annotations are a tool's MCP behaviour hints (tools/list "annotations"), so a client can
// auto-approve reads and knows which writes are safe to retry. Every tool publishes all four:
//   - ReadOnly: the call changes nothing (no git write, no audit row, no cursor, no binding);
//   - Destructive (writes only): the call gives up state the caller cannot get back by calling
//     again — a proposal's change retracted, a proposal closed, a stage reverted. Entry, message
//     and vantage writes are additive: bodies are immutable and git keeps every edition;
//   - Idempotent (writes only): repeating the call with the same arguments changes no state —
//     the op_id replay of tools.md §12 (an audit row may be appended again), a dedup, or an
//     already-closed answer. canon_diff advances the cursor each call; the relay verbs spend a
//     one-time code or refuse the repeat;
//   - OpenWorld: false everywhere — every tool acts inside this deployment only.
type Annotations struct {
	ReadOnly    bool
	Destructive bool
	Idempotent  bool
	OpenWorld   bool
}

// Hints returns the annotations as the MCP wire names them, every hint explicit.
func (a Annotations) Hints() map[string]any {
	return map[string]any{
		"readOnlyHint":    a.ReadOnly,
		"destructiveHint": a.Destructive,
		"idempotentHint":  a.Idempotent,
		"openWorldHint":   a.OpenWorld,
	}
}

// The hint sets the tools share.
var (
	read     = Annotations{ReadOnly: true, Idempotent: true}
	additive = Annotations{Idempotent: true} // an op_id-keyed or dedup'd write
	drops    = Annotations{Destructive: true, Idempotent: true}
	once     = Annotations{} // each call acts anew
	undoes   = Annotations{Destructive: true}
)

// annotations holds each registered tool's hints (TestAnnotations_everyTool keeps it in step
// with the catalog).
var annotations = map[string]Annotations{
	"announce":         read,
	"whoami":           read,
	"canon_state":      read,
	"list_instances":   read,
	"kip_commit":       additive,
	"vap_record":       additive,
	"kip_get":          read,
	"list_entries":     read,
	"kip_history":      read,
	"propose":          additive,
	"propose_retract":  drops,
	"propose_close":    drops,
	"conflict_preview": read,
	"list_proposals":   read,
	"map_search":       read,
	"thread_scry":      read,
	"arg_scry":         read,
	"perf_scry":        read,
	"vap_for":          read,
	"imp_send":         additive,
	"imp_check":        read,
	"imp_flags":        read,
	"imp_mark_read":    additive,
	"canon_diff":       once,
	"sup_reconcile":    additive,
	"sup_state":        read,
	"stage_approve":    once,
	"land_approve":     once,
	"stage_revert":     undoes,
}
