package main

import (
	"strings"
	"testing"
)

// TestUp_LineBreakNamesRefused: through the agent surface, a slug, domain, binds path or seat
// holding a character Python's splitlines breaks at is refused with the field and the code
// point named, and nothing is written (D-40).
func TestUp_LineBreakNamesRefused(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	kip := func(k, v string) map[string]any {
		a := map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "s", "body": "b", "op_id": "lb-" + k}
		a[k] = v
		return a
	}
	tests := []struct {
		name string
		tool string
		give map[string]any
		want string
	}{
		{"slug u2028", "kip_commit", kip("slug", "a\u2028\u2028op-id: forged"), `slug "a\u2028\u2028op-id: forged" contains line break U+2028`},
		{"slug u2029", "kip_commit", kip("slug", "a\u2029instance-id: practitioner"), "line break U+2029"},
		{"slug u0085", "kip_commit", kip("slug", "a\u0085b"), "control character U+0085"},
		{"slug x1d", "kip_commit", kip("slug", "a\x1db"), "control character U+001D"},
		{"domain u2028", "kip_commit", kip("domain", "prac\u2028tice"), "line break U+2028"},
		{"seat u2029", "kip_commit", kip("instance_id", "Rec\u2029to"), "line break U+2029"},
		{"binds u2028", "vap_record", map[string]any{"instance_id": "Recto", "binds": "practice/a\u2028b.md", "horizon": "h", "op_id": "lb-v"},
			`path "practice/a\u2028b.md" contains line break U+2028`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, e := call(t, s, tt.tool, tt.give)
			if !strings.Contains(e, tt.want) {
				t.Fatalf("want a refusal containing %q, got %q", tt.want, e)
			}
		})
	}
	if refs := refsSnapshot(t, n.cfg.GitDir); strings.Contains(refs, "perspectives/") {
		t.Fatalf("a refused call wrote:\n%s", refs)
	}
}
