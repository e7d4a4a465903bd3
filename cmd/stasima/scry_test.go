package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestUp_ThreadsAndArgot is SC-4 (S-60…S-62, S-70/71, T-thread_scry-*, T-arg_scry-*).
func TestUp_ThreadsAndArgot(t *testing.T) {
	n := testNode(t)
	seats := map[string]*mcp.ClientSession{"Recto": mcpSession(t, n), "Verso": mcpSession(t, n), "Tertia": mcpSession(t, n)}

	// Four malformed tags are refused (S-60).
	for _, bad := range []string{"Weave", "-weave", "weave_1", strings.Repeat("w", 65)} {
		if _, e := call(t, seats["Recto"], "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "x",
			"body": "b", "op_id": "bad-" + bad[:2], "thread": bad}); !strings.Contains(e, "ref-safe") {
			t.Fatalf("thread %q: %q", bad, e)
		}
	}
	// One tag across a commit and a message (proposals are never indexed, S-3).
	mustCall(t, seats["Recto"], "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "loom",
		"title": "The loom", "body": "A loom holds the warp.", "op_id": "c1", "thread": "weave-1"})
	mustCall(t, seats["Verso"], "imp_send", map[string]any{"instance_id": "Verso", "recipients": []string{"Recto"},
		"subject": "about the loom", "body": "Which loom?", "op_id": "m1", "thread": "weave-1"})

	th := mustCall(t, seats["Tertia"], "thread_scry", nil)["threads"].(map[string]any)["weave-1"].(map[string]any)
	if th["count"] != 2.0 || fmt.Sprint(th["authors"]) != "[Recto Verso]" || fmt.Sprint(th["latest"]) != "map[path:messages/m1.md ref:refs/cap/perspectives/Verso]" {
		t.Fatalf("threads(): %v", th)
	}
	te := mustCall(t, seats["Tertia"], "thread_scry", map[string]any{"thread": "weave-1"})
	es := te["entries"].([]any)
	if te["total"] != 2.0 || te["count"] != 2.0 || te["truncated"] != false || len(es) != 2 {
		t.Fatalf("thread_scry(weave-1): %v", te)
	}
	msg, kno := es[0].(map[string]any), es[1].(map[string]any)
	if msg["type"] != "msg" || msg["title"] != "about the loom" || kno["type"] != "kno" || kno["title"] != "The loom" || kno["author"] != "Recto" {
		t.Fatalf("newest first, title falls back to the subject: %v", es)
	}
	te = mustCall(t, seats["Tertia"], "thread_scry", map[string]any{"thread": "weave-1", "limit": 1, "offset": 1})
	if te["count"] != 1.0 || te["truncated"] != false || te["offset"] != 1.0 || te["entries"].([]any)[0].(map[string]any)["type"] != "kno" {
		t.Fatalf("thread page: %v", te)
	}
	if te := mustCall(t, seats["Tertia"], "thread_scry", map[string]any{"thread": "weave-1", "limit": 1}); te["truncated"] != true {
		t.Fatalf("truncated: %v", te)
	}

	// weft: two seats share one body, a third differs → 2 definitions over 3 trees.
	same := "Weft: the crosswise thread."
	for seat, body := range map[string]string{"Recto": same, "Verso": same + "\n", "Tertia": "Weft: what the shuttle carries."} {
		mustCall(t, seats[seat], "kip_commit", map[string]any{"instance_id": seat, "domain": "argot", "slug": "weft", "body": body, "op_id": "w-" + seat, "type": "arg"})
	}
	terms := mustCall(t, seats["Recto"], "arg_scry", nil)["terms"].(map[string]any)
	if w := terms["weft"].(map[string]any); w["definitions"] != 2.0 || len(w["trees"].([]any)) != 3 || w["canon"] != false {
		t.Fatalf("arg_terms: %v", terms)
	}
	defs := mustCall(t, seats["Recto"], "arg_scry", map[string]any{"term": "argot/Weft.md"})
	ds := defs["definitions"].([]any)
	if defs["term"] != "Weft" || defs["count"] != 2.0 || len(ds) != 2 {
		t.Fatalf("arg_definitions: %v", defs)
	}
	concordant, divergent := ds[0].(map[string]any), ds[1].(map[string]any)
	hs := concordant["holders"].([]any)
	if concordant["preview"] != same || len(hs) != 2 || hs[0].(map[string]any)["ref"] != "refs/cap/perspectives/Recto" ||
		len(divergent["holders"].([]any)) != 1 || divergent["holders"].([]any)[0].(map[string]any)["author"] != "Tertia" {
		t.Fatalf("concordant pair, divergent single: %v", ds)
	}
	if d := mustCall(t, seats["Recto"], "arg_scry", map[string]any{"term": "we_t"}); d["count"] != 0.0 {
		t.Fatalf("_ is literal (D-27): %v", d)
	}
}

// TestUp_PerfScry is T-perf_scry-1: the ledger under git verb names, heaviest first, totals
// over all verbs.
func TestUp_PerfScry(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "p", "body": "b", "op_id": "p1"})
	mustCall(t, s, "kip_history", map[string]any{"ref": "Recto", "path": "practice/p"})
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "perf_scry", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("perf_scry: %v %v", err, res)
	}
	raw := res.Content[0].(*mcp.TextContent).Text
	var out struct {
		GitCalls float64         `json:"git_calls"`
		GitMS    float64         `json:"git_ms"`
		ByVerb   json.RawMessage `json:"by_verb"`
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out.ByVerb)))
	dec.Token()
	var calls float64
	last := -1.0
	seen := map[string]bool{}
	for dec.More() {
		k, _ := dec.Token()
		var v struct{ N, MS, AvgMS, MaxMS float64 }
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if last >= 0 && v.MS > last {
			t.Fatalf("by_verb not ordered by ms descending at %v:\n%s", k, raw)
		}
		last, calls = v.MS, calls+v.N
		seen[k.(string)] = true
	}
	for _, verb := range []string{"commit-tree", "rev-parse", "for-each-ref", "log"} {
		if !seen[verb] {
			t.Fatalf("verb %s not metered:\n%s", verb, raw)
		}
	}
	if calls != out.GitCalls || calls == 0 {
		t.Fatalf("git_calls %v, sum of n %v", out.GitCalls, calls)
	}
}

// TestUp_NewToolsBadInput: the argument gates of the message and vantage tools refuse with
// the gate named and write nothing (T-vap_record-1, T-imp_send-4, S-60, C-path-3/D-10,
// D-33, D-37).
func TestUp_NewToolsBadInput(t *testing.T) {
	n := testNode(t)
	sr, sv := mcpSession(t, n), mcpSession(t, n)
	big := strings.Repeat("x", 1<<20+1)
	send := func(kv ...any) map[string]any {
		a := map[string]any{"instance_id": "Recto", "recipients": []string{"Verso"}, "subject": "s", "body": "b", "op_id": "bi"}
		for i := 0; i+1 < len(kv); i += 2 {
			a[kv[i].(string)] = kv[i+1]
		}
		return a
	}
	vap := func(kv ...any) map[string]any {
		a := map[string]any{"instance_id": "Recto", "binds": "practice/a.md", "horizon": "h", "op_id": "bv"}
		for i := 0; i+1 < len(kv); i += 2 {
			a[kv[i].(string)] = kv[i+1]
		}
		return a
	}
	tests := []struct {
		name string
		tool string
		give map[string]any
		want string
	}{
		{"unknown kind", "vap_record", vap("kind", "opinion"), "not a vantage kind"},
		{"bad thread form", "imp_send", send("thread", "Not Ref Safe"), "ref-safe"},
		{"binds traversal", "vap_record", vap("binds", "../../etc/passwd"), `".." segment`},
		{"binds control char", "vap_record", vap("binds", "practice/a\x01b"), "control character"},
		{"supersedes traversal", "imp_send", send("supersedes", []string{"messages/../../x"}), `".." segment`},
		{"op_id control char", "imp_send", send("op_id", "m\x07"), "control character"},
		{"invalid sender name", "imp_send", send("instance_id", "Re/../cto"), "Re/../cto"},
		{"oversize body", "imp_send", send("body", big), "max_body_bytes"},
		{"oversize horizon", "vap_record", vap("horizon", big), "max_body_bytes"},
		{"envelope delimiter", "imp_send", send("subject", "a --- b"), "---"},
		{"empty seat", "vap_record", vap("instance_id", ""), "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, e := call(t, sr, tt.tool, tt.give)
			if !strings.HasPrefix(e, "Error executing tool "+tt.tool+": ") || !strings.Contains(e, tt.want) {
				t.Fatalf("want a refusal containing %q, got %q", tt.want, e)
			}
		})
	}
	if refs := refsSnapshot(t, n.cfg.GitDir); strings.Contains(refs, "perspectives/") {
		t.Fatalf("a refused call wrote:\n%s", refs)
	}
	// message_path is recorded verbatim: not normalized, not validated (T-imp_mark_read-2).
	for _, p := range []string{"../../etc/passwd", "messages/x"} {
		if r := mustCall(t, sv, "imp_mark_read", map[string]any{"instance_id": "Verso", "message_path": p}); r["marked_read"] != p {
			t.Fatalf("imp_mark_read(%q): %v", p, r)
		}
	}
	if rows := auditRows(t, n, "read_receipt"); len(rows) != 2 || *rows[0].TargetPath != "../../etc/passwd" {
		t.Fatalf("receipts verbatim: %+v", rows)
	}
}
