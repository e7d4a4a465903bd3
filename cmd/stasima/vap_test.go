package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestUp_Vantages is SC-12 for vap_record and vap_for (T-vap_record-*, T-vap_for-*, S-51,
// T-kip_get with_vantages, INV-10).
func TestUp_Vantages(t *testing.T) {
	n := testNode(t)
	sr, sv := mcpSession(t, n), mcpSession(t, n) // one session per seat (binding, I-10)
	mustCall(t, sr, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "durability",
		"body": "Never lose committed work.", "op_id": "k1"})

	// binds normalized (C-path-4); confirmed on one's own entry; canon_state server-pinned.
	horizon := "From the lighthouse keeper's log: durability is a promise kept across every storm, " + strings.Repeat("x", 300)
	v := mustCall(t, sr, "vap_record", map[string]any{"instance_id": "Recto", "binds": "practice/durability", "horizon": horizon, "op_id": "v1"})
	if v["path"] != "vantages/v1.md" || v["author"] != "Recto" || v["binds"] != "practice/durability.md" ||
		v["vantage"] != "confirmed" || v["canon_state"] != "" || v["oid"] == "" {
		t.Fatalf("vap_record: %v", v)
	}
	text := mustCall(t, sr, "kip_get", map[string]any{"ref": "Recto", "path": "vantages/v1.md"})["text"].(string)
	if !strings.HasPrefix(text, "---\ntype: vap\ntitle: vantage on practice/durability.md\nstatus: active\nvantage: confirmed\ncanon_state: \ncoordinates: [practice/durability.md]\ninstance_depth: 2\n---\n") {
		t.Fatalf("vantage envelope (C-env-3):\n%s", text)
	}

	// INV-10: never in universal search, even for the verbatim horizon.
	res := mustCall(t, sv, "map_search", map[string]any{"instance_id": "Verso", "query": horizon, "include_weak": true, "include_superseded": true})
	for _, h := range res["results"].([]any) {
		if strings.HasPrefix(h.(map[string]any)["path"].(string), "vantages/") {
			t.Fatalf("vantage in map_search: %v", h)
		}
	}

	// Confirmed on another's entry is refused, audited, and not recorded (T-vap_record-6).
	_, e := call(t, sv, "vap_record", map[string]any{"instance_id": "Verso", "binds": "practice/durability.md", "horizon": "mine now", "op_id": "v2"})
	if !strings.Contains(e, "practice/durability.md") || !strings.Contains(e, "Recto") || !strings.Contains(e, "reconstructed") {
		t.Fatalf("dignity guard: %q", e)
	}
	rows := auditRows(t, n, "vap_record")
	if len(rows) != 2 || *rows[1].Outcome != "denied" || *rows[1].TargetPath != "vantages/v2.md" ||
		!strings.Contains(string(rows[1].Detail), `"authors":["Recto"]`) {
		t.Fatalf("vap_record rows: %+v", rows)
	}
	if _, e := call(t, sv, "kip_get", map[string]any{"ref": "Verso", "path": "vantages/v2.md"}); e == "" {
		t.Fatalf("refused vantage was written")
	}
	// The reconstructed label names the recorder.
	rv := mustCall(t, sv, "vap_record", map[string]any{"instance_id": "Verso", "binds": "practice/durability.md", "horizon": "As I read Recto's record.",
		"op_id": "v3", "kind": "reconstructed", "title": "Verso's reading"})
	if rv["vantage"] != "reconstructed-by-Verso-from-record" {
		t.Fatalf("reconstructed label: %v", rv)
	}

	// vap_for by entry: newest first, pointer default (preview only), paging limit 1 + offset.
	page := func(args map[string]any) (map[string]any, []map[string]any) {
		out := mustCall(t, sv, "vap_for", args)
		var vs []map[string]any
		for _, x := range out["vantages"].([]any) {
			vs = append(vs, x.(map[string]any))
		}
		return out, vs
	}
	out, vs := page(map[string]any{"entry": "practice/durability.md"})
	if out["total"] != 2.0 || len(vs) != 2 || vs[0]["path"] != "vantages/v3.md" || vs[1]["path"] != "vantages/v1.md" {
		t.Fatalf("vap_for(entry): %v", out)
	}
	if _, ok := vs[1]["horizon"]; ok || vs[1]["preview"] != horizon[:240] || fmt.Sprint(vs[1]["binds"]) != "[practice/durability.md]" || vs[1]["binds_status"] != "active" {
		t.Fatalf("pointer form (T-vap_for-3/4): %v", vs[1])
	}
	out, vs = page(map[string]any{"entry": "practice/durability.md", "limit": 1})
	if out["count"] != 1.0 || out["total"] != 2.0 || out["truncated"] != true || out["offset"] != 0.0 || vs[0]["path"] != "vantages/v3.md" {
		t.Fatalf("page 1: %v", out)
	}
	out, vs = page(map[string]any{"entry": "practice/durability.md", "limit": 1, "offset": 1})
	if out["count"] != 1.0 || out["truncated"] != false || out["offset"] != 1.0 || vs[0]["path"] != "vantages/v1.md" {
		t.Fatalf("page 2: %v", out)
	}
	// By author, detail=full: the recovery convention.
	out, vs = page(map[string]any{"author": "Recto", "detail": "full"})
	if out["total"] != 1.0 || vs[0]["horizon"] != horizon || vs[0]["author"] != "Recto" || vs[0]["ref"] != "refs/cap/perspectives/Recto" {
		t.Fatalf("vap_for(author, full): %v", out)
	}

	// kip_get with_vantages lists both with their horizons.
	get := mustCall(t, sr, "kip_get", map[string]any{"ref": "Recto", "path": "practice/durability", "with_vantages": true})
	gv := get["vantages"].([]any)
	if len(gv) != 2 || gv[0].(map[string]any)["title"] != "Verso's reading" || gv[1].(map[string]any)["horizon"] != horizon {
		t.Fatalf("with_vantages: %v", gv)
	}
	if _, ok := mustCall(t, sr, "kip_get", map[string]any{"ref": "Recto", "path": "practice/durability"})["vantages"]; ok {
		t.Fatalf("vantages without with_vantages")
	}

	// binds_status follows the bound entry: superseded on the own ref and, for Verso's vantage
	// (no row on Verso's ref, none on canon), through status_of.
	mustCall(t, sr, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "durability-2",
		"body": "Never lose committed work; fsync first.", "op_id": "k2", "supersedes": []string{"practice/durability.md"}})
	mustCall(t, sr, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "durability",
		"body": "Never lose committed work.", "op_id": "k3", "status": "superseded", "superseded_by": []string{"practice/durability-2.md"}})
	_, vs = page(map[string]any{"entry": "practice/durability.md"})
	if vs[0]["binds_status"] != "superseded" || vs[1]["binds_status"] != "superseded" {
		t.Fatalf("binds_status superseded: %v / %v", vs[0], vs[1])
	}

	// A fold (kip_commit horizon=) is a vantage like any other: vap_for finds it by entry.
	f := mustCall(t, sr, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "fold",
		"body": "Folded entry.", "op_id": "k4", "horizon": "Why I wrote it."})
	if _, vs := page(map[string]any{"entry": "practice/fold.md", "detail": "full"}); len(vs) != 1 ||
		vs[0]["path"] != f["folded"].(map[string]any)["path"] || vs[0]["horizon"] != "Why I wrote it." || vs[0]["binds_status"] != "active" {
		t.Fatalf("fold vantage in vap_for: %v / %v", f, vs)
	}

	// An empty binds is accepted and binds nothing (T-vap_record-11).
	if ev := mustCall(t, sr, "vap_record", map[string]any{"instance_id": "Recto", "binds": "", "horizon": "free-floating", "op_id": "v4"}); ev["binds"] != "" {
		t.Fatalf("empty binds: %v", ev)
	}
	if out, _ := page(map[string]any{"author": "Recto"}); out["total"] != 3.0 {
		t.Fatalf("vap_for(author) after the empty-binds vantage: %v", out)
	}
}
