package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// bootNode starts the up graph over a data dir bootstrapped from the test seed.
func bootNode(t *testing.T) (*node, string) {
	t.Helper()
	data := t.TempDir()
	if code, _, stderr := admin(t, "--data", data, "bootstrap", writeSeed(t)); code != 0 {
		t.Fatal(stderr)
	}
	cfg, err := loadConfig(data, "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	return n, data
}

// TestUp_ReconcileThenPropose walks the coherence gates: propose refused before reconcile
// (T-propose-7, audited), reconcile refused before the pull (T-sup_reconcile-3), the first pull
// lists all canon as pointers (T-canon_diff-3/4), reconcile writes the state entry and dedups
// (T-sup_reconcile-4), then propose with a log entry succeeds (T-propose-9/10/14).
func TestUp_ReconcileThenPropose(t *testing.T) {
	n, _ := bootNode(t)
	s := mcpSession(t, n)
	cs := mustCall(t, s, "canon_state", nil)
	tip := cs["canon_tip"].(string)
	logArgs := map[string]any{"instance_id": "Recto", "proposal_id": "p-one", "domain": "meta/log", "slug": "3c",
		"body": "First land.", "op_id": "pl-1", "type": "log", "seq": "3C"}

	if _, e := call(t, s, "propose", logArgs); !strings.Contains(e, "reconcile with current canon") || !strings.Contains(e, tip[:12]) ||
		!strings.Contains(e, "canon_diff") || !strings.Contains(e, "sup_reconcile") {
		t.Fatalf("unreconciled propose: %q", e)
	}
	if rows := auditRows(t, n, "propose"); len(rows) != 1 || str(rows[0].Outcome) != "denied" || !strings.Contains(string(rows[0].Detail), "not reconciled with current canon") {
		t.Fatalf("propose denial row: %+v", rows)
	}
	if _, e := call(t, s, "sup_reconcile", map[string]any{"instance_id": "Recto", "body": "read it"}); !strings.Contains(e, "pull current canon first") || !strings.Contains(e, "canon_diff") {
		t.Fatalf("reconcile before pull: %q", e)
	}
	d := mustCall(t, s, "canon_diff", map[string]any{"instance_id": "Recto"})
	if d["canon_tip"] != tip || d["from"] != nil || d["changed_count"] != float64(3) {
		t.Fatalf("first pull: %v", d)
	}
	for _, it := range d["changed"].([]any) {
		if _, hasBody := it.(map[string]any)["body"]; hasBody {
			t.Fatalf("pointer diff carries a body: %v", it)
		}
	}
	if again := mustCall(t, s, "canon_diff", map[string]any{"instance_id": "Recto"}); again["changed_count"] != float64(0) || again["from"] != tip {
		t.Fatalf("immediate repeat pull: %v", again)
	}
	r := mustCall(t, s, "sup_reconcile", map[string]any{"instance_id": "Recto", "body": "read it"})
	if r["path"] != "state/reconciled-"+tip[:12]+".md" || r["canon_cursor"] != tip || len(r["oid"].(string)) != 40 {
		t.Fatalf("sup_reconcile: %v", r)
	}
	if dup := mustCall(t, s, "sup_reconcile", map[string]any{"instance_id": "Recto", "body": "again"}); dup["already"] != true || dup["oid"] != r["oid"] {
		t.Fatalf("sup_reconcile dedup: %v", dup)
	}
	if rows := auditRows(t, n, "reconcile_report"); len(rows) != 1 || str(rows[0].OpID) != "reconcile-"+tip[:12] {
		t.Fatalf("reconcile_report rows: %+v", rows)
	}

	// T-propose-9/10: seq and slug rules.
	bad := map[string]any{}
	for k, v := range logArgs {
		bad[k] = v
	}
	bad["seq"] = "0x3c"
	if _, e := call(t, s, "propose", bad); !strings.Contains(e, "seq") || !strings.Contains(e, "0x3c") || !strings.Contains(e, "next_seq") {
		t.Fatalf("bad seq: %q", e)
	}
	bad["seq"], bad["slug"] = "3c", "3C"
	if _, e := call(t, s, "propose", bad); !strings.Contains(e, "meta/log/3c.md") {
		t.Fatalf("slug != seq: %q", e)
	}
	bad["domain"], bad["slug"] = "meta/log/", "3c"
	if _, e := call(t, s, "propose", bad); !strings.Contains(e, "double slash") {
		t.Fatalf("trailing slash domain: %q", e)
	}

	p := mustCall(t, s, "propose", logArgs)
	if p["proposal_id"] != "p-one" || p["path"] != "meta/log/3c.md" || p["author"] != "Recto" {
		t.Fatalf("propose: %v", p)
	}
	get := mustCall(t, s, "kip_get", map[string]any{"ref": "refs/cap/proposals/p-one", "path": "meta/log/3c.md"})
	if !strings.Contains(get["text"].(string), "\nseq: 3c\n") || !strings.Contains(get["text"].(string), "\ncanon_state: "+tip+"\n") {
		t.Fatalf("proposed log entry:\n%s", get["text"])
	}
	// Another seat that has not reconciled is refused; the creator lane holds.
	if _, e := call(t, s, "propose", map[string]any{"instance_id": "Verso", "proposal_id": "p-one", "domain": "practice", "slug": "v",
		"body": "x", "op_id": "pv-1"}); !strings.Contains(e, "reconcile with current canon") {
		t.Fatalf("Verso unreconciled: %q", e)
	}
	if _, e := call(t, s, "propose_retract", map[string]any{"instance_id": "Verso", "proposal_id": "p-one", "path": "meta/log/3c.md", "op_id": "rv"}); !strings.Contains(e, "Recto") {
		t.Fatalf("cross-seat retract: %q", e)
	}
	// Retract of an added path removes it (zero divergence).
	ret := mustCall(t, s, "propose_retract", map[string]any{"instance_id": "Recto", "proposal_id": "p-one", "path": "meta/log/3c.md", "op_id": "r1"})
	if ret["retracted"] != "meta/log/3c.md" {
		t.Fatalf("retract: %v", ret)
	}
	if _, e := call(t, s, "kip_get", map[string]any{"ref": "refs/cap/proposals/p-one", "path": "meta/log/3c.md"}); e == "" {
		t.Fatal("retracted path still on the proposal")
	}
	// Close: non-creator refused, creator closes, re-close answers already, writes refused.
	if _, e := call(t, s, "propose_close", map[string]any{"instance_id": "Verso", "proposal_id": "p-one", "reason": "no", "op_id": "c0"}); !strings.Contains(e, "Recto") {
		t.Fatalf("non-creator close: %q", e)
	}
	c := mustCall(t, s, "propose_close", map[string]any{"instance_id": "Recto", "proposal_id": "p-one", "reason": "superseded\nby p-two", "op_id": "c1"})
	if c["closed"] != true || c["reason"] != "superseded\nby p-two" {
		t.Fatalf("close: %v", c)
	}
	again := mustCall(t, s, "propose_close", map[string]any{"instance_id": "Recto", "proposal_id": "p-one", "reason": "x", "op_id": "c2"})
	if again["already"] != true || again["reason"] != "superseded by p-two" {
		t.Fatalf("re-close: %v", again)
	}
	if _, e := call(t, s, "propose", logArgs); !strings.Contains(e, "closed") {
		t.Fatalf("propose on closed: %q", e)
	}
	st := mustCall(t, s, "sup_state", map[string]any{"instance_id": "Recto"})
	if st["current_with_canon"] != true || st["canon_cursor"] != tip {
		t.Fatalf("sup_state: %v", st)
	}
	li := mustCall(t, s, "list_instances", nil)
	if cur := li["current_with_canon"].(map[string]any); cur["Recto"] != true {
		t.Fatalf("list_instances: %v", li)
	}
}
