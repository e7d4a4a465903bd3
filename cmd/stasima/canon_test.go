package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
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
	// The narratives drive several seats over one MCP session: a trunk, which runs binding
	// off (identity.md I-20). Binding itself is proved in binding_test.go.
	cfg.BindingMode = "off"
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

// reconcile pulls canon and writes the reconcile report for seat.
func reconcile(t *testing.T, s *mcp.ClientSession, seat string) map[string]any {
	t.Helper()
	d := mustCall(t, s, "canon_diff", map[string]any{"instance_id": seat})
	mustCall(t, s, "sup_reconcile", map[string]any{"instance_id": seat, "body": "read canon at " + d["canon_tip"].(string)})
	return d
}

func proposeLog(t *testing.T, s *mcp.ClientSession, seat, id, seq, narrative string) (map[string]any, string) {
	t.Helper()
	return call(t, s, "propose", map[string]any{"instance_id": seat, "proposal_id": id, "domain": "meta/log", "slug": seq,
		"body": narrative, "op_id": id + "-log-" + seq, "type": "log", "seq": seq, "title": "::" + strings.ToUpper(seq) + " " + id})
}

// TestUp_FirstSession is the first-session narrative end to end (SC-1, SC-9, SC-13): two seats
// author; one reconciles, proposes with a log entry, the practitioner lands; the other is refused
// at propose until it has pulled and reconciled; seq and the state tag advance; canon_diff carries
// the narrative; the audit log verifies against its anchor after every land.
func TestUp_FirstSession(t *testing.T) {
	n, data := bootNode(t)
	s := mcpSession(t, n)
	for _, seat := range []string{"Recto", "Verso"} {
		mustCall(t, s, "kip_commit", map[string]any{"instance_id": seat, "domain": "practice", "slug": "notes-" + strings.ToLower(seat), "body": seat + " notes", "op_id": seat + "-k1"})
	}
	reconcile(t, s, "Recto")
	mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-durability", "domain": "practice", "slug": "durability",
		"body": "Never lose committed work.", "op_id": "pd-1", "tags": []string{"durability"}})
	if p, e := proposeLog(t, s, "Recto", "p-durability", "3c", "We agreed on durability."); e != "" {
		t.Fatalf("propose log: %s %v", e, p)
	}
	if _, e := call(t, s, "propose", map[string]any{"instance_id": "Verso", "proposal_id": "p-verso", "domain": "practice", "slug": "v",
		"body": "v", "op_id": "pv-1"}); !strings.Contains(e, "reconcile with current canon") {
		t.Fatalf("Verso before reconcile: %q", e)
	}
	// canon_state before the land lists the bootstrap's paths; the gateway keeps that list, so
	// the answer after the land shows whether it is kept per canon commit.
	before := mustCall(t, s, "canon_state", nil)
	if slices.Contains(anyStrings(before["entries"]), "practice/durability.md") {
		t.Fatalf("canon_state before the land lists the proposal: %v", before["entries"])
	}
	lp := mustCall(t, s, "list_proposals", nil)
	if st := lp["statuses"].(map[string]any)["p-durability"].(map[string]any); st["status"] != "open" {
		t.Fatalf("before land: %v", lp)
	}
	cp := mustCall(t, s, "conflict_preview", map[string]any{"proposal_id": "p-durability"})
	if cp["conflicts"] != false || cp["would_remove_canon"] != false || fmt.Sprint(cp["adds"]) != "[meta/log/3c.md practice/durability.md]" {
		t.Fatalf("conflict_preview: %v", cp)
	}

	code, pv, stderr := admin(t, "--data", data, "preview", "p-durability")
	if code != 0 || pv["log_entry_ok"] != true || pv["expected_seq"] != "3c" || fmt.Sprint(pv["authors"]) != "[Recto]" {
		t.Fatalf("preview: %d %v %s", code, pv, stderr)
	}
	code, landed, stderr := admin(t, "--data", data, "land", "p-durability")
	if code != 0 || landed["seq"] != "3c" || landed["display"] != "::3C" || len(landed["landed"].(string)) != 40 {
		t.Fatalf("land: %d %v %s", code, landed, stderr)
	}
	oid := landed["landed"].(string)
	cs := mustCall(t, s, "canon_state", nil)
	if cs["canon_tip"] != oid || cs["seq"] != "3c" || cs["display"] != "::3C" || cs["next_seq"] != "3d" {
		t.Fatalf("canon_state after land: %v", cs)
	}
	if after := anyStrings(cs["entries"]); len(after) != len(anyStrings(before["entries"]))+2 ||
		!slices.Contains(after, "practice/durability.md") || !slices.Contains(after, "meta/log/3c.md") {
		t.Fatalf("canon_state entries after the land: %v (before %v)", after, before["entries"])
	}
	if lands := cs["lands"].([]any); len(lands) != 1 || lands[0].(map[string]any)["seq"] != "3c" || lands[0].(map[string]any)["by"] != "practitioner" {
		t.Fatalf("lands: %v", cs["lands"])
	}
	if out, err := exec.Command("git", "--git-dir", n.cfg.GitDir, "rev-parse", "refs/tags/state/3c").Output(); err != nil || strings.TrimSpace(string(out)) != oid {
		t.Fatalf("state tag: %s %v", out, err)
	}
	// The land is indexed before it reports (O-land-7, S-35): canon search finds it at once.
	hits := mustCall(t, s, "map_search", map[string]any{"instance_id": "Verso", "query": "Never lose committed work.", "scope": "canon"})["results"].([]any)
	if len(hits) == 0 || hits[0].(map[string]any)["path"] != "practice/durability.md" || hits[0].(map[string]any)["is_canon"] != true {
		t.Fatalf("canon search after the land: %v", hits)
	}
	lp = mustCall(t, s, "list_proposals", nil)
	if st := lp["statuses"].(map[string]any)["p-durability"].(map[string]any); st["status"] != "landed" {
		t.Fatalf("after land: %v", lp)
	}
	if code, v, _ := admin(t, "--data", data, "verify"); code != 0 || v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
		t.Fatalf("verify after land: %v", v)
	}
	// Recto is behind the new canon now: propose is blocked again (INV-15).
	if _, e := proposeLog(t, s, "Recto", "p-next", "3d", "next"); !strings.Contains(e, "reconcile with current canon") {
		t.Fatalf("Recto after the land: %q", e)
	}
	// Verso pulls: the diff carries the narrative in full, other entries as pointers.
	d := reconcile(t, s, "Verso")
	logs := d["logs"].([]any)
	if len(logs) != 1 || logs[0].(map[string]any)["path"] != "meta/log/3c.md" || logs[0].(map[string]any)["body"] != "We agreed on durability." {
		t.Fatalf("canon_diff logs: %v", d)
	}
	mustCall(t, s, "propose", map[string]any{"instance_id": "Verso", "proposal_id": "p-verso", "domain": "practice", "slug": "v", "body": "v", "op_id": "pv-1"})
	if _, e := proposeLog(t, s, "Verso", "p-verso", "3d", "Verso's turn."); e != "" {
		t.Fatal(e)
	}
	if code, l2, stderr := admin(t, "--data", data, "land", "p-verso"); code != 0 || l2["seq"] != "3d" {
		t.Fatalf("second land: %v %s", l2, stderr)
	}
	if code, st, _ := admin(t, "--data", data, "status"); code != 0 || st["canon_seq"] != "::3D" || st["audit_vs_anchor"] != true {
		t.Fatalf("status: %v", st)
	}
}

// TestUp_SeqRace: two proposals carry the same next seq; after the first lands the second is
// refused (O-land-3) naming the displays, then renumbers (retract the stale log, re-author) and
// lands as seq + 1 (C-log-8).
func TestUp_SeqRace(t *testing.T) {
	n, data := bootNode(t)
	s := mcpSession(t, n)
	for _, seat := range []string{"Recto", "Verso"} {
		reconcile(t, s, seat)
		mustCall(t, s, "propose", map[string]any{"instance_id": seat, "proposal_id": "p-" + seat, "domain": "practice", "slug": "w-" + seat,
			"body": seat + " work", "op_id": seat + "-w"})
		if _, e := proposeLog(t, s, seat, "p-"+seat, "3c", seat+" lands"); e != "" {
			t.Fatal(e)
		}
	}
	if code, _, stderr := admin(t, "--data", data, "land", "p-Recto"); code != 0 {
		t.Fatal(stderr)
	}
	// Both carry meta/log/3c.md: the second no longer merges (0.1.5 refused p-weft the same way).
	code, _, stderr := admin(t, "--data", data, "land", "p-Verso")
	if code != 1 || !strings.HasPrefix(stderr, "conflict — not landing: ") || !strings.Contains(stderr, "meta/log/3c.md") {
		t.Fatalf("stale seq: %d %q", code, stderr)
	}
	reconcile(t, s, "Verso")
	mustCall(t, s, "propose_retract", map[string]any{"instance_id": "Verso", "proposal_id": "p-Verso", "path": "meta/log/3c.md", "op_id": "v-ret"})
	if _, e := proposeLog(t, s, "Verso", "p-Verso", "3d", "Verso lands second"); e != "" {
		t.Fatal(e)
	}
	// A proposal branched before another land still lands (SC-9).
	code, l, stderr := admin(t, "--data", data, "land", "p-Verso")
	if code != 0 || l["seq"] != "3d" {
		t.Fatalf("renumbered land: %d %v %s", code, l, stderr)
	}
	get := mustCall(t, s, "kip_get", map[string]any{"ref": "canon", "path": "practice/w-Recto"})
	if !strings.HasSuffix(get["text"].(string), "Recto work\n") {
		t.Fatalf("canon lost Recto's land: %v", get)
	}
	mustCall(t, s, "kip_get", map[string]any{"ref": "canon", "path": "practice/w-Verso"})
}

// TestUp_LandValidation: a log entry numbered past canon's next seq is refused at land naming
// the displays and the remedy (O-land-3, SC-9: 3e at ::3B names ::3E, ::3B, ::3C); a proposal
// without a log entry is refused naming exactly one log entry; a removal of a canon path is
// refused before any candidate (INV-3, SC-14).
func TestUp_LandValidation(t *testing.T) {
	n, data := bootNode(t)
	s := mcpSession(t, n)
	reconcile(t, s, "Recto")
	if _, e := proposeLog(t, s, "Recto", "p-far", "3e", "too far"); e != "" {
		t.Fatal(e)
	}
	code, _, stderr := admin(t, "--data", data, "land", "p-far")
	for _, w := range []string{"not landing: ", "::3E", "::3B", "::3C", "propose_retract"} {
		if code != 1 || !strings.Contains(stderr, w) {
			t.Fatalf("far seq: %d %q lacks %q", code, stderr, w)
		}
	}
	mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-nolog", "domain": "practice", "slug": "x", "body": "x", "op_id": "nl"})
	code, _, stderr = admin(t, "--data", data, "land", "p-nolog")
	if code != 1 || !strings.Contains(stderr, "exactly one log entry") || !strings.Contains(stderr, "found 0") || !strings.Contains(stderr, "none") {
		t.Fatalf("no log: %d %q", code, stderr)
	}
	// Retracting a canon path whose proposal side was deleted cannot remove it: build a removal
	// the only way a seat can — a proposal that never held the path cannot delete it — so
	// preview an out-of-band removal instead.
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"--git-dir", n.cfg.GitDir}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	tip := git("rev-parse", "refs/cap/proposals/p-nolog")
	idx := t.TempDir() + "/index"
	cmd := exec.Command("git", "--git-dir", n.cfg.GitDir, "read-tree", tip)
	cmd.Env = append(cmd.Environ(), "GIT_INDEX_FILE="+idx)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	cmd = exec.Command("git", "--git-dir", n.cfg.GitDir, "rm", "--cached", "-q", "meta/charter.md")
	cmd.Env = append(cmd.Environ(), "GIT_INDEX_FILE="+idx)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	cmd = exec.Command("git", "--git-dir", n.cfg.GitDir, "write-tree")
	cmd.Env = append(cmd.Environ(), "GIT_INDEX_FILE="+idx)
	tree, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("git", "--git-dir", n.cfg.GitDir, "commit-tree", strings.TrimSpace(string(tree)), "-p", tip, "-m", "drop charter")
	cmd.Env = append(cmd.Environ(), "GIT_AUTHOR_NAME=Recto", "GIT_AUTHOR_EMAIL=r@x", "GIT_COMMITTER_NAME=r", "GIT_COMMITTER_EMAIL=r@x")
	c, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	git("update-ref", "refs/cap/proposals/p-nolog", strings.TrimSpace(string(c)), tip)
	cp := mustCall(t, s, "conflict_preview", map[string]any{"proposal_id": "p-nolog"})
	if cp["would_remove_canon"] != true || fmt.Sprint(cp["removes"]) != "[meta/charter.md]" {
		t.Fatalf("removal preview: %v", cp)
	}
	before := refsSnapshot(t, n.cfg.GitDir)
	code, _, stderr = admin(t, "--data", data, "land", "p-nolog")
	if code != 1 || !strings.HasPrefix(stderr, "append-only — not landing: ") || !strings.Contains(stderr, "meta/charter.md") {
		t.Fatalf("removal land: %d %q", code, stderr)
	}
	if refsSnapshot(t, n.cfg.GitDir) != before {
		t.Fatal("a refused land moved a ref")
	}
}

// TestUp_LifecycleRefusals: every refusal of the lifecycle gates this build serves, one row per
// rule, each naming the values involved.
func TestUp_LifecycleRefusals(t *testing.T) {
	empty := testNode(t) // no canon yet
	se := mcpSession(t, empty)
	n, _ := bootNode(t)
	s := mcpSession(t, n)
	reconcile(t, s, "Recto")
	mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-r", "domain": "practice", "slug": "a", "body": "a", "op_id": "pr-a"})
	mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-closed", "domain": "practice", "slug": "c", "body": "c", "op_id": "pc-a"})
	mustCall(t, s, "propose_close", map[string]any{"instance_id": "Recto", "proposal_id": "p-closed", "reason": "done", "op_id": "pc-close"})
	// A close with an empty reason closes too: listed closed, re-close answers already, and
	// writes are refused (C-prop-2; the subject is "close:" once stripped).
	mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-blank", "domain": "practice", "slug": "d", "body": "d", "op_id": "pb-a"})
	mustCall(t, s, "propose_close", map[string]any{"instance_id": "Recto", "proposal_id": "p-blank", "reason": "", "op_id": "pb-close"})
	if st := mustCall(t, s, "list_proposals", nil)["statuses"].(map[string]any)["p-blank"].(map[string]any); st["status"] != "closed" || st["closed_reason"] != "" {
		t.Fatalf("closed with an empty reason, listed %v", st)
	}
	if again := mustCall(t, s, "propose_close", map[string]any{"instance_id": "Recto", "proposal_id": "p-blank", "reason": "x", "op_id": "pb-close2"}); again["already"] != true {
		t.Fatalf("re-close after an empty reason: %v", again)
	}
	if _, e := call(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-blank", "domain": "practice", "slug": "e", "body": "e", "op_id": "pb-b"}); !strings.Contains(e, "closed") {
		t.Fatalf("propose on a proposal closed with an empty reason: %q", e)
	}
	reconcile(t, s, "Verso")

	prop := func(over map[string]any) map[string]any {
		args := map[string]any{"instance_id": "Recto", "proposal_id": "p-r", "domain": "practice", "slug": "b", "body": "b", "op_id": "pr-b"}
		for k, v := range over {
			args[k] = v
		}
		return args
	}
	tests := []struct {
		rule string
		sess *mcp.ClientSession
		tool string
		args map[string]any
		want []string
	}{
		{"T-propose-2", s, "propose", prop(map[string]any{"domain": "/practice"}), []string{"/practice", "double slash"}},
		{"T-propose-2", s, "propose", prop(map[string]any{"slug": "x//y"}), []string{"double slash"}},
		{"T-propose-6", s, "propose", prop(map[string]any{"proposal_id": "p-closed"}), []string{"p-closed", "closed", "done", "terminal"}},
		{"T-propose-7", s, "propose", prop(map[string]any{"instance_id": "Tertia"}), []string{"reconcile with current canon", "canon_diff", "sup_reconcile"}},
		{"T-propose-8", se, "propose", prop(nil), []string{"refs/heads/main"}},
		{"T-propose-9", s, "propose", prop(map[string]any{"domain": "meta/log", "slug": "3c", "seq": ""}), []string{"seq", "next_seq"}},
		{"T-propose-10", s, "propose", prop(map[string]any{"domain": "meta/log", "slug": "3C", "seq": "3c"}), []string{"3C", "3c", "meta/log/3c.md"}},
		{"T-propose-12", s, "propose", prop(map[string]any{"thread": "-bad"}), []string{"ref-safe"}},
		{"T-propose_retract-3", s, "propose_retract", map[string]any{"instance_id": "Recto", "proposal_id": "p-closed", "path": "practice/c.md", "op_id": "x"}, []string{"p-closed", "closed"}},
		{"T-propose_retract-4", s, "propose_retract", map[string]any{"instance_id": "Recto", "proposal_id": "p-none", "path": "practice/c.md", "op_id": "x"}, []string{"refs/cap/proposals/p-none"}},
		{"T-propose_retract-5", s, "propose_retract", map[string]any{"instance_id": "Verso", "proposal_id": "p-r", "path": "practice/a.md", "op_id": "x"}, []string{"Recto"}},
		{"T-propose_close-4", s, "propose_close", map[string]any{"instance_id": "Recto", "proposal_id": "p-none", "reason": "r", "op_id": "x"}, []string{"refs/cap/proposals/p-none"}},
		{"T-propose_close-5", s, "propose_close", map[string]any{"instance_id": "Verso", "proposal_id": "p-r", "reason": "r", "op_id": "x"}, []string{"Recto"}},
		{"T-sup_reconcile-2", se, "sup_reconcile", map[string]any{"instance_id": "Recto", "body": "b"}, []string{"refs/heads/main"}},
		{"T-sup_reconcile-3", s, "sup_reconcile", map[string]any{"instance_id": "Tertia", "body": "b"}, []string{"pull current canon first", "canon_diff"}},
		{"T-conflict_preview-1", s, "conflict_preview", map[string]any{"proposal_id": "p-none"}, []string{"refs/cap/proposals/p-none"}},
		{"D-31", s, "propose", prop(map[string]any{"op_id": "pr-a", "slug": "other"}), []string{"pr-a", "new op_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule+"/"+tt.tool, func(t *testing.T) {
			_, e := call(t, tt.sess, tt.tool, tt.args)
			if e == "" {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(e, w) {
					t.Errorf("%q lacks %q", e, w)
				}
			}
		})
	}
}

// anyStrings is a decoded JSON list of strings (nil for anything else).
func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
