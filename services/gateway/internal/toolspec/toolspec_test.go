package toolspec

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// registrationOrder is tools.md §0, transcribed.
var registrationOrder = []string{
	"announce", "whoami", "kip_commit", "kip_get", "list_entries", "kip_history", "propose",
	"propose_retract", "conflict_preview", "perf_scry", "propose_close", "list_proposals",
	"list_instances", "map_search", "thread_scry", "arg_scry", "imp_send", "imp_check",
	"imp_flags", "imp_mark_read", "vap_record", "vap_for", "canon_diff", "sup_reconcile",
	"sup_state", "canon_state", "stage_approve", "land_approve", "stage_revert",
}

// T-common-1, §0: exactly the 29 tools, in registration order.
func TestAll_registrationOrder(t *testing.T) {
	got := make([]string, 0, len(registrationOrder))
	for _, tool := range All() {
		got = append(got, tool.Name)
	}
	if len(got) != 29 {
		t.Fatalf("All() has %d tools, want 29", len(got))
	}
	if !slices.Equal(got, registrationOrder) {
		t.Errorf("All() order:\n got %v\nwant %v", got, registrationOrder)
	}
	for _, name := range registrationOrder {
		if _, ok := Lookup(name); !ok {
			t.Errorf("Lookup(%q) = false", name)
		}
	}
}

// §0: tools removed in 0.1.5 MUST NOT be registered (T-common-21 answers them as unknown).
func TestLookup_removedTools(t *testing.T) {
	tests := []string{
		"orientation", "canon_head", "proposal_status", "sup_who", "my_perspective",
		"imp_flags_all", "", "KIP_COMMIT", "kip_commit ",
	}
	for _, name := range tests {
		t.Run(name, func(t *testing.T) {
			if _, ok := Lookup(name); ok {
				t.Errorf("Lookup(%q) = true, want false", name)
			}
		})
	}
	for _, tool := range All() {
		if slices.Contains(tests, tool.Name) {
			t.Errorf("All() registers removed tool %q", tool.Name)
		}
	}
}

// The catalogue is handed out by copy: mutating a result must not change the contract.
func TestAll_returnsCopies(t *testing.T) {
	tools := All()
	tools[2].Params[0].Name = "mutated"
	tools[0].Name = "mutated"
	kc, _ := Lookup("kip_commit")
	kc.Params[1].Default = "mutated"
	if got := All(); got[0].Name != "announce" || got[2].Params[0].Name != "instance_id" {
		t.Errorf("All() returned shared state")
	}
	if kc2, _ := Lookup("kip_commit"); kc2.Params[1].Default != nil {
		t.Errorf("Lookup() returned shared state")
	}
}

// T-common-2: parameters without a default are required; nullable ones default to null; every
// default has the Go type of its parameter; names are unique per tool.
func TestCatalog_wellFormed(t *testing.T) {
	for _, tool := range All() {
		seen := map[string]bool{}
		for _, p := range tool.Params {
			if seen[p.Name] {
				t.Errorf("%s: duplicate parameter %q", tool.Name, p.Name)
			}
			seen[p.Name] = true
			var ok bool
			switch {
			case p.Required, p.Type.Nullable():
				ok = p.Default == nil
			case p.Type == String:
				_, ok = p.Default.(string)
			case p.Type == Boolean:
				_, ok = p.Default.(bool)
			case p.Type == Integer:
				_, ok = p.Default.(int)
			}
			if !ok {
				t.Errorf("%s.%s: default %#v does not fit %v (required %v)", tool.Name, p.Name, p.Default, p.Type, p.Required)
			}
		}
		if strings.TrimSpace(tool.Description) == "" {
			t.Errorf("%s: empty description", tool.Name)
		}
	}
}

// Parameter order and defaults, spot-checked against each tool's table in tools.md.
func TestAll_params(t *testing.T) {
	tests := []struct {
		tool      string
		wantNames []string // the table's order; nil skips the check
		give      string   // parameter to spot-check
		want      Param
	}{
		{"announce", []string{"instance_id"}, "instance_id", req("instance_id", String)},
		{"kip_commit", []string{"instance_id", "domain", "slug", "body", "op_id", "title", "type",
			"tags", "references", "supersedes", "status", "superseded_by", "horizon",
			"horizon_title", "tick", "thread"}, "type", Param{Name: "type", Type: String, Default: "kno"}},
		{"kip_commit", nil, "status", Param{Name: "status", Type: String, Default: "active"}},
		{"kip_commit", nil, "title", Param{Name: "title", Type: String, Default: ""}},
		{"kip_commit", nil, "tags", Param{Name: "tags", Type: NullableStringArray}},
		{"kip_commit", nil, "superseded_by", Param{Name: "superseded_by", Type: NullableStringArray}},
		{"kip_commit", nil, "op_id", Param{Name: "op_id", Type: String, Required: true}},
		{"vap_record", []string{"instance_id", "binds", "horizon", "op_id", "kind", "title"},
			"kind", Param{Name: "kind", Type: String, Default: "confirmed"}},
		{"kip_get", []string{"ref", "path", "resolve", "with_vantages"},
			"resolve", Param{Name: "resolve", Type: String, Default: "live"}},
		{"kip_get", nil, "with_vantages", Param{Name: "with_vantages", Type: Boolean, Default: false}},
		{"list_entries", []string{"ref", "path"}, "path", Param{Name: "path", Type: String, Default: ""}},
		{"kip_history", []string{"ref", "path"}, "path", req("path", String)},
		{"propose", []string{"instance_id", "proposal_id", "domain", "slug", "body", "op_id", "title",
			"type", "seq", "tags", "references", "supersedes", "status", "superseded_by",
			"origin_author", "thread"}, "seq", Param{Name: "seq", Type: String, Default: ""}},
		{"propose", nil, "type", Param{Name: "type", Type: String, Default: "kno"}},
		{"propose_retract", []string{"instance_id", "proposal_id", "path", "op_id"}, "path", req("path", String)},
		{"propose_close", []string{"instance_id", "proposal_id", "reason", "op_id"}, "reason", req("reason", String)},
		{"conflict_preview", []string{"proposal_id"}, "proposal_id", req("proposal_id", String)},
		{"map_search", []string{"instance_id", "query", "scope", "type", "limit",
			"include_superseded", "include_weak"}, "scope", Param{Name: "scope", Type: String, Default: "all"}},
		{"map_search", nil, "type", Param{Name: "type", Type: NullableString}},
		{"map_search", nil, "limit", Param{Name: "limit", Type: Integer, Default: 10}},
		{"map_search", nil, "include_superseded", Param{Name: "include_superseded", Type: Boolean, Default: false}},
		{"map_search", nil, "include_weak", Param{Name: "include_weak", Type: Boolean, Default: false}},
		{"thread_scry", []string{"thread", "limit", "offset"}, "limit", Param{Name: "limit", Type: Integer, Default: 16}},
		{"thread_scry", nil, "offset", Param{Name: "offset", Type: Integer, Default: 0}},
		{"arg_scry", []string{"term"}, "term", Param{Name: "term", Type: String, Default: ""}},
		{"vap_for", []string{"entry", "author", "canon_state", "detail", "limit", "offset"},
			"detail", Param{Name: "detail", Type: String, Default: "pointer"}},
		{"vap_for", nil, "limit", Param{Name: "limit", Type: Integer, Default: 16}},
		{"imp_send", []string{"recipients", "subject", "body", "op_id", "instance_id", "sender",
			"coordinates", "supersedes", "thread"}, "recipients", req("recipients", StringArray)},
		{"imp_send", nil, "sender", Param{Name: "sender", Type: String, Default: ""}},
		{"imp_send", nil, "coordinates", Param{Name: "coordinates", Type: NullableStringArray}},
		{"imp_check", []string{"instance_id", "unread_only"}, "unread_only", Param{Name: "unread_only", Type: Boolean, Default: true}},
		{"imp_flags", []string{"instance_id"}, "instance_id", Param{Name: "instance_id", Type: String, Default: ""}},
		{"imp_mark_read", []string{"instance_id", "message_path"}, "message_path", req("message_path", String)},
		{"canon_diff", []string{"instance_id"}, "instance_id", req("instance_id", String)},
		{"sup_reconcile", []string{"instance_id", "body"}, "body", req("body", String)},
		{"sup_state", []string{"instance_id"}, "instance_id", req("instance_id", String)},
		{"stage_approve", []string{"proposal_id", "code"}, "code", req("code", String)},
		{"land_approve", []string{"staged_oid_prefix", "code"}, "staged_oid_prefix", req("staged_oid_prefix", String)},
		{"stage_revert", []string{"proposal_id"}, "proposal_id", req("proposal_id", String)},
	}
	for _, tt := range tests {
		t.Run(tt.tool+"/"+tt.give, func(t *testing.T) {
			tool, ok := Lookup(tt.tool)
			if !ok {
				t.Fatalf("Lookup(%q) = false", tt.tool)
			}
			if tt.wantNames != nil {
				names := make([]string, 0, len(tool.Params))
				for _, p := range tool.Params {
					names = append(names, p.Name)
				}
				if !slices.Equal(names, tt.wantNames) {
					t.Errorf("params:\n got %v\nwant %v", names, tt.wantNames)
				}
			}
			got, _ := tool.Param(tt.give)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Param(%q) = %#v, want %#v", tt.give, got, tt.want)
			}
		})
	}
}

// §2, §5, §6: tools documented with "No parameters".
func TestAll_noParams(t *testing.T) {
	for _, name := range []string{"canon_state", "list_instances", "perf_scry", "list_proposals"} {
		tool, _ := Lookup(name)
		if len(tool.Params) != 0 {
			t.Errorf("%s has %d params, want none", name, len(tool.Params))
		}
		s := tool.InputSchema()
		if _, ok := s["required"]; ok {
			t.Errorf("%s schema has a required key", name)
		}
		if props, ok := s["properties"].(map[string]any); !ok || len(props) != 0 {
			t.Errorf("%s schema properties = %#v, want {}", name, s["properties"])
		}
	}
}

// T-common-2: the published schema.
func TestTool_InputSchema(t *testing.T) {
	tool, _ := Lookup("map_search")
	got := tool.InputSchema()
	want := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"instance_id": map[string]any{"type": "string"},
			"query":       map[string]any{"type": "string"},
			"scope":       map[string]any{"type": "string", "default": "all"},
			"type": map[string]any{
				"anyOf":   []any{map[string]any{"type": "string"}, map[string]any{"type": "null"}},
				"default": nil,
			},
			"limit":              map[string]any{"type": "integer", "default": 10, "minimum": MinInteger, "maximum": MaxInteger},
			"include_superseded": map[string]any{"type": "boolean", "default": false},
			"include_weak":       map[string]any{"type": "boolean", "default": false},
		},
		"required":             []any{"instance_id", "query"},
		"additionalProperties": false,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("InputSchema():\n got %#v\nwant %#v", got, want)
	}

	// Nullable and plain arrays, and "default": null surviving JSON encoding.
	tool, _ = Lookup("imp_send")
	b, err := json.Marshal(tool.InputSchema()["properties"])
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{
		`"recipients":{"items":{"type":"string"},"type":"array"}`,
		`"coordinates":{"anyOf":[{"items":{"type":"string"},"type":"array"},{"type":"null"}],"default":null}`,
	} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("imp_send properties %s lack %s", b, frag)
		}
	}
}

// T-common-18: each description states its section's "Description must mention" points.
func TestAll_descriptionsMention(t *testing.T) {
	tests := []struct {
		tool string
		want []string
	}{
		{"announce", []string{"orientation", "canon head", "perspective tip"}},
		{"whoami", []string{"mode", "bound", "source", "match", "off", "server-owned downgrade"}},
		{"canon_state", []string{"log entry", "seq = this seq + 1", "next_seq"}},
		{"kip_commit", []string{"supersede, do not edit", "supersedes=", "superseded_by=",
			"tick= is for state entries only", "thread=", "ref-safe", "horizon= is the fold",
			"one commit under one op_id"}},
		{"vap_record", []string{"excluded from universal search", "vap_for",
			"confirmed only on your own entry", "reconstructed", "server-pinned"}},
		{"propose", []string{"Reconcile first", "exactly one log entry", "domain='meta/log'",
			"slug=<seq>", "type='log'", "seq=<seq>", "next_seq", "checked here", "origin_author=",
			"thread= on the log entry tags the land"}},
		{"propose_retract", []string{"canon-held path reverts to canon's edition",
			"added path leaves", "Never a canon deletion"}},
		{"conflict_preview", []string{"removes non-empty means the land will be refused",
			"append-only", "attributions", "authored-vs-proposed"}},
		{"map_search", []string{"attributed pointers", "canon", "mine", "all", "Live-only by default",
			"below the relevance floor", "withheld", "below_floor", "include_weak"}},
		{"vap_for", []string{"entry", "author", "canon_state", "Pointers by default",
			`detail="full"`, "Newest-first", "bounded", "offset", "Recovery convention",
			`vap_for(author=<you>, detail="full")`, "surface only here"}},
		{"imp_send", []string{"instance_id is the canonical", "deprecated twin", "exactly one",
			"coordinates are paths", "supersedes retires your own earlier messages only"}},
		{"canon_diff", []string{"pointer diff", "full log narratives", "kip_get what governs",
			"Advances your canon cursor", "sup_reconcile next"}},
		{"stage_approve", []string{"two-code flow", "review floor", "content-bound to the staged oid", "Abort is free"}},
		{"land_approve", []string{"two-code flow", "review floor", "staged oid", "Content binding", "Abort is free"}},
		{"stage_revert", []string{"two-code flow", "review floor", "content-bound to the staged oid", "Abort is free"}},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			tool, _ := Lookup(tt.tool)
			for _, w := range tt.want {
				if !strings.Contains(tool.Description, w) {
					t.Errorf("description lacks %q:\n%s", w, tool.Description)
				}
			}
		})
	}
}

// listEntry is one element of the tools/list wire contract.
type listEntry struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"inputSchema"`
	Annotations map[string]any `json:"annotations"`
}

func toolsListJSON(t *testing.T) []byte {
	t.Helper()
	entries := make([]listEntry, 0, len(catalog))
	for _, tool := range All() {
		entries = append(entries, listEntry{tool.Name, tool.Description, tool.InputSchema(), tool.Annotations.Hints()})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // descriptions hold <placeholders>; keep the golden readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(entries); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The tools/list wire contract (STYLE.md "Testing"): any drift fails until rewritten with
// go test ./internal/toolspec -update.
func TestAll_golden(t *testing.T) {
	path := filepath.Join("testdata", "tools_list.golden.json")
	got := toolsListJSON(t)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/toolspec -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("tools/list drifted from %s; review and rerun with -update\n%s", path, firstDiff(got, want))
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return ""
}

// TestAnnotations_everyTool: each of the 29 tools has its hints, and a read is exactly a tool
// tools.md §11 lists with no audit row, no binding op and no index barrier (canon_diff appends
// canon_pull; the relay verbs append airlock rows).
func TestAnnotations_everyTool(t *testing.T) {
	if len(annotations) != len(catalog) {
		t.Errorf("%d annotated tools, %d registered", len(annotations), len(catalog))
	}
	writes := map[string]bool{"kip_commit": true, "vap_record": true, "propose": true, "propose_retract": true,
		"propose_close": true, "imp_send": true, "imp_mark_read": true, "canon_diff": true, "sup_reconcile": true,
		"stage_approve": true, "land_approve": true, "stage_revert": true}
	for _, tool := range All() {
		a, ok := annotations[tool.Name]
		if !ok {
			t.Errorf("%s has no annotations", tool.Name)
			continue
		}
		if a.ReadOnly == writes[tool.Name] || a.OpenWorld || a.ReadOnly && a.Destructive || tool.Annotations != a {
			t.Errorf("%s: annotations %+v (a write: %v)", tool.Name, a, writes[tool.Name])
		}
	}
}
