package main

import (
	"slices"
	"strings"
	"testing"
)

// TestUp_IndexedReads: a commit is searchable and enriched the moment its tool call returns
// (the index barrier, ARCH-7/S-30); map_search hits are attributed (INV-9).
func TestUp_IndexedReads(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "durability", "title": "Durability first",
		"body": "Never lose committed work: every write is fsynced before it is acknowledged.", "op_id": "ix-1", "thread": "durability-wave"})
	l := mustCall(t, s, "list_entries", map[string]any{"ref": "Recto"})
	e := l["entries"].([]any)[0].(map[string]any)
	if e["title"] != "Durability first" || e["status"] != "active" || e["type"] != "kno" || e["thread"] != "durability-wave" {
		t.Fatalf("enriched listing: %v", e)
	}
	// A path filter lists (and enriches) that domain only, the rest of the ref unread (issue 15).
	mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practiced", "slug": "other", "title": "Other",
		"body": "Another domain.", "op_id": "ix-2"})
	for _, tt := range []struct {
		path string
		want []string
	}{{"practice", []string{"practice/durability.md"}}, {"practice/durability.md", []string{"practice/durability.md"}},
		{"practiced/", []string{"practiced/other.md"}}, {"practic", nil}, {"", []string{"practice/durability.md", "practiced/other.md"}}} {
		var got []string
		for _, e := range mustCall(t, s, "list_entries", map[string]any{"ref": "Recto", "path": tt.path})["entries"].([]any) {
			m := e.(map[string]any)
			if m["title"] == "" {
				t.Errorf("list_entries(path=%q): %v not enriched", tt.path, m)
			}
			got = append(got, m["path"].(string))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("list_entries(path=%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
	res := mustCall(t, s, "map_search", map[string]any{"instance_id": "Verso", "query": "never lose committed work"})
	hits := res["results"].([]any)
	if len(hits) == 0 || hits[0].(map[string]any)["path"] != "practice/durability.md" || hits[0].(map[string]any)["author"] != "Recto" {
		t.Fatalf("map_search: %v", res)
	}
}

// TestUp_CrossPropose is SC-3 / T-propose-11: carrying another seat's work needs origin_author
// naming that seat; the true author is accepted and stamped.
func TestUp_CrossPropose(t *testing.T) {
	n, _ := bootNode(t)
	s := mcpSession(t, n)
	body := "Weft: the crosswise thread a seat adds across the standing warp of canon."
	mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Verso", "domain": "argot", "slug": "weft", "body": body, "op_id": "v-weft", "type": "arg"})
	reconcile(t, s, "Recto")
	prop := func(slug, origin, op string) (map[string]any, string) {
		return call(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-weft", "domain": "argot", "slug": slug,
			"body": body, "op_id": op, "type": "arg", "origin_author": origin})
	}
	if _, e := prop("weft", "", "c1"); !strings.Contains(e, "Verso (argot/weft.md)") || !strings.Contains(e, "origin_author=") {
		t.Fatalf("same path, no origin_author: %q", e)
	}
	if _, e := prop("weft-copy", "", "c2"); !strings.Contains(e, "Verso (argot/weft.md)") {
		t.Fatalf("verbatim body under a new slug: %q", e)
	}
	if _, e := prop("weft", "Tertia", "c3"); !strings.Contains(e, "Verso") || !strings.Contains(e, "Tertia") {
		t.Fatalf("contradicting origin_author: %q", e)
	}
	if rows := auditRows(t, n, "propose"); len(rows) != 2 || !strings.Contains(string(rows[0].Detail), "cross-propose without origin_author") {
		t.Fatalf("cross-propose rows: %+v", rows)
	}
	if _, e := prop("weft", "Verso", "c4"); e != "" {
		t.Fatalf("true origin_author: %s", e)
	}
	get := mustCall(t, s, "kip_get", map[string]any{"ref": "refs/cap/proposals/p-weft", "path": "argot/weft.md"})
	if !strings.Contains(get["text"].(string), "\norigin_author: Verso\n") {
		t.Fatalf("origin_author not stamped:\n%s", get["text"])
	}
	cp := mustCall(t, s, "conflict_preview", map[string]any{"proposal_id": "p-weft"})
	if a := cp["attributions"].(map[string]any)["argot/weft.md"].(map[string]any); a["authored"] != "Verso" || a["proposed"] != "Recto" {
		t.Fatalf("attributions: %v", cp["attributions"])
	}
}
