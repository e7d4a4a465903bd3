package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/stasima/stasima/pkg/pgtest"
	"github.com/stasima/stasima/pkg/schema"
)

// TestUp_Open015Deployment is issue 8 item 5: a Stasima 0.1.5 deployment opened in place —
// the config points git_dir, audit_db and map_db at the shipped bare repo, audit.sqlite and
// map_index.sqlite — serves every read of expected.json as 0.1.5 answered it, its chain
// verifies against its anchor, a full reindex rebuilds the same rows, and new writes and a land
// continue the same chain from the fixture's last seq, with a new anchor on top of 0.1.5's that
// verifies (U-10, U-50, U-52, O-land-*, S-6, S-81; spec README §6 for the deviations).
//
// No deviation of README §6 changes any of the 20 reads for this fixture: it holds no path
// with a space or non-ASCII (D-15), no scalar list values (D-32), no non-numeric depths
// (D-21), no invalid UTF-8 (D-29), and canon_ref is refs/heads/main (D-4). The differences
// that do show are in the new audit rows — D-13 (read_receipt carries the session tag), D-14
// (reconcile_report carries op_id reconcile-<tip12>), D-17 (land_merge carries evidence), U-20
// (Go also tags the airlock's tool-caused rows, which 0.1.5 left untagged) — and the orderings a
// reindex changes (expected.json reads_after_reindex_differences).
func TestUp_Open015Deployment(t *testing.T) {
	dep := unpackDeployment(t)
	var exp expectedDeployment
	b, err := os.ReadFile(filepath.Join(dep, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	// The fixture's own stasima.toml with its paths made absolute; seq_origin stays unset (0x3b).
	// search_mode "embedding" is 0.1.5's exact ranking (S-10…S-15); the Go default, hybrid,
	// ranks differently by design (operations §8).
	conf := filepath.Join(t.TempDir(), "stasima.toml")
	toml := fmt.Sprintf(`git_dir = %q
audit_db = %q
map_db = %q
deployment_name = "Fixture Practice"
approvers = ["practitioner"]
canon_ref = "refs/heads/main"
embed_backend = "stub"
orientation_base = "technical/orientation"
airlock_floor_s = 120
airlock_ceiling_s = 7200
transport = "stdio"
search_mode = "embedding"
`, filepath.Join(dep, "stasima.git"), filepath.Join(dep, "audit.sqlite"), filepath.Join(dep, "map_index.sqlite"))
	if err := os.WriteFile(conf, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	cfg, err := loadUpConfig(data, conf, "127.0.0.1:0") // as `stasima up --config` does
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BindingMode != "" && cfg.BindingMode != "strict" {
		t.Fatalf("binding mode %q: the fixture ran strict", cfg.BindingMode)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })

	// Opening changes no ref.
	for ref, oid := range exp.Refs {
		if got := gitOut(t, cfg.GitDir, "rev-parse", ref); got != oid {
			t.Errorf("%s = %s, 0.1.5 left %s", ref, got, oid)
		}
	}

	// Strict binding, as in the fixture run: one MCP session per seat (one server per seat in
	// 0.1.5), and one unbound session for the reads that claim no identity.
	sessions := map[string]*mcp.ClientSession{}
	sessionOf := func(args map[string]any) *mcp.ClientSession {
		seat, _ := args["instance_id"].(string)
		if sessions[seat] == nil {
			sessions[seat] = mcpSession(t, n)
		}
		return sessions[seat]
	}
	checkReads(t, exp, sessionOf, nil)
	if t.Failed() {
		t.FailNow()
	}
	if rows := chain(t, n, exp); len(rows) != exp.Audit.Count {
		t.Fatalf("the reads appended %s", opsOf(rows[exp.Audit.Count:]))
	}

	// The chain as 0.1.5 left it verifies, also against the shipped anchor (@62).
	code, v, stderr := admin(t, "--data", data, "--config", conf, "verify")
	if code != 0 || v["audit_verify_ok"] != true || v["first_bad_seq"] != nil || v["audit_vs_anchor"] != true {
		t.Fatalf("verify the opened log: %d %v %s", code, v, stderr)
	}
	code, sta, stderr := admin(t, "--data", data, "--config", conf, "status")
	if code != 0 || sta["audit_events"] != float64(exp.Audit.Count) || sta["canon_seq"] != "::3E" {
		t.Fatalf("status of the opened deployment: %d %v %s", code, sta, stderr)
	}

	// A full reindex over the shipped repo rebuilds the same rows (map_index.admin_reindex_returns),
	// and afterwards the reads are those of expected.json but for the orderings it lists in
	// reads_after_reindex_differences (S-6: a reindex inserts in ref/path order).
	code, ri, stderr := admin(t, "--data", data, "--config", conf, "reindex")
	if code != 0 || ri["reindexed"] != float64(exp.MapIndex.AdminReindexReturns) {
		t.Fatalf("reindex: %d %v %s", code, ri, stderr)
	}
	after := map[int]json.RawMessage{}
	for _, d := range exp.ReindexDifferences {
		after[d.ReadIndex] = d.Result
	}
	checkReads(t, exp, sessionOf, after)
	if t.Failed() {
		t.FailNow()
	}

	// Everything 0.1.5 committed already has its row: reconcile-from-git backfills nothing
	// (U-40; 0.1.5's reconcile_report rows carry no op_id, D-14, and were never commits).
	if code, r, stderr := admin(t, "--data", data, "--config", conf, "reconcile"); code != 0 || r["backfilled"] != float64(0) {
		t.Fatalf("reconcile over the 0.1.5 repo: %d %v %s", code, r, stderr)
	}

	// New writes continue the chain: a kip_commit by Recto (current with canon at ::3E), then a
	// proposal carrying the ::3F log entry, landed by the practitioner.
	before := len(chain(t, n, exp))
	rs := sessions["Recto"]
	k := mustCall(t, rs, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "go-opened",
		"body": "Opened by the Go server; the chain goes on.", "op_id": "go-k1"})
	// Strict binding learns Recto's session at its first write (I-10), then the commit's row.
	rows := chain(t, n, exp)
	if ops := opsOf(rows[before:]); ops != "session_binding:Recto kip_commit:Recto" || str(rows[len(rows)-1].ResultOID) != k["oid"] {
		t.Fatalf("rows after seq %d: %s; last %s", before, ops, str(rows[len(rows)-1].ResultOID))
	}
	if rows[before].PrevHash != exp.Audit.Head {
		t.Fatalf("the first Go row links to %s, not 0.1.5's head %s", rows[before].PrevHash, exp.Audit.Head)
	}

	// Tertia, left by 0.1.5 reconciled at ::3D, pulls from that cursor (its state entry) to
	// ::3E, reconciles, and reads its inbox; the rows have 0.1.5's shapes but for D-13 (a
	// read_receipt carries the session tag) and D-14 (reconcile_report carries an op_id).
	ts := sessionOf(map[string]any{"instance_id": "Tertia"})
	d := mustCall(t, ts, "canon_diff", map[string]any{"instance_id": "Tertia"})
	if d["from"] != exp.Refs["refs/tags/state/3d"] || d["canon_tip"] != exp.CanonHead || fmt.Sprint(pathsOf(d["changed"])) != "[maps/canon-overview.md meta/log/3e.md]" ||
		len(d["logs"].([]any)) != 1 || d["logs"].([]any)[0].(map[string]any)["path"] != "meta/log/3e.md" {
		t.Fatalf("Tertia's canon_diff from its 0.1.5 cursor: %v", d)
	}
	mustCall(t, ts, "sup_reconcile", map[string]any{"instance_id": "Tertia", "body": "Caught up with ::3E after the move to Go."})
	if li := mustCall(t, ts, "list_instances", nil); fmt.Sprint(li["current_with_canon"]) != "map[Recto:true Tertia:true Verso:false]" {
		t.Fatalf("list_instances after Tertia reconciled: %v", li)
	}
	in := mustCall(t, ts, "imp_check", map[string]any{"instance_id": "Tertia"})
	if msgs := in["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["path"] != "messages/recto-m1.md" {
		t.Fatalf("Tertia's unread inbox: %v", in)
	}
	mustCall(t, ts, "imp_mark_read", map[string]any{"instance_id": "Tertia", "message_path": "messages/recto-m1.md"})
	if f := mustCall(t, ts, "imp_flags", nil); fmt.Sprint(f["seats"].(map[string]any)["Tertia"]) != "map[from:[] unread:0]" {
		t.Fatalf("imp_flags after Tertia's receipt: %v", f)
	}

	mustCall(t, rs, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-go", "domain": "practice", "slug": "go-principle",
		"body": "The chain a seat inherits is the chain it extends.", "op_id": "go-p1"})
	if _, e := proposeLog(t, rs, "Recto", "p-go", "3f", "::3F — the Go server lands on the 0.1.5 canon."); e != "" {
		t.Fatalf("propose the ::3F log: %s", e)
	}
	// The airlock folds its state from the audit log, 0.1.5's rows included: nothing is
	// staged (p-maps' stage ended in its land), and with a newly provisioned secret (0.1.5's was
	// not shipped) p-go stages, freezes, and reverts.
	if code, _, stderr := admin(t, "--data", data, "--config", conf, "totp-provision"); code != 0 {
		t.Fatalf("totp-provision: %s", stderr)
	}
	ps := mustCall(t, sessionOf(nil), "list_proposals", nil)["statuses"].(map[string]any)
	if fmt.Sprint(ps["p-maps"]) != "map[status:landed]" || fmt.Sprint(ps["p-go"]) != "map[lands_behind:0 status:open]" {
		t.Fatalf("statuses before the stage: %v", ps)
	}
	st := mustCall(t, sessionOf(nil), "stage_approve", map[string]any{"proposal_id": "p-go", "code": totpNow(t, cfg.AirlockSecret)})
	if st["log_seq"] != "3f" {
		t.Fatalf("stage_approve: %v", st)
	}
	if _, e := call(t, rs, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-go", "domain": "practice", "slug": "late",
		"body": "x", "op_id": "go-p2"}); !strings.Contains(e, "frozen for review") {
		t.Fatalf("propose on the staged p-go: %q", e)
	}
	if rv := mustCall(t, sessionOf(nil), "stage_revert", map[string]any{"proposal_id": "p-go"}); rv["state"] != "open" {
		t.Fatalf("stage_revert: %v", rv)
	}
	code, pv, stderr := admin(t, "--data", data, "--config", conf, "preview", "p-go")
	if code != 0 || pv["log_entry_ok"] != true || pv["expected_seq"] != "3f" {
		t.Fatalf("preview: %d %v %s", code, pv, stderr)
	}
	code, landed, stderr := admin(t, "--data", data, "--config", conf, "land", "p-go")
	if code != 0 || landed["seq"] != "3f" || landed["display"] != "::3F" {
		t.Fatalf("land: %d %v %s", code, landed, stderr)
	}
	oid := landed["landed"].(string)
	if got := gitOut(t, cfg.GitDir, "rev-parse", "refs/tags/state/3f"); got != oid {
		t.Fatalf("state tag 3f = %s, want the land %s", got, oid)
	}
	if got := gitOut(t, cfg.GitDir, "rev-parse", oid+"^1"); got != exp.CanonHead {
		t.Fatalf("the land's first parent %s, want the 0.1.5 canon head %s", got, exp.CanonHead)
	}
	cs := mustCall(t, sessionOf(nil), "canon_state", nil)
	lands := cs["lands"].([]any)
	if cs["canon_tip"] != oid || cs["next_seq"] != "40" || len(lands) != 4 || lands[3].(map[string]any)["seq"] != "3f" {
		t.Fatalf("canon_state after the land: %v", cs)
	}

	// The rows of the land continue the chain; each has the shape of 0.1.5's row of its op:
	// the same null columns, the same detail keys (D-17 adds evidence to land_merge), 0.1.5's
	// ts form, and land-<oid12> as the land's op_id.
	rows = chain(t, n, exp)
	if ops := opsOf(rows[before:]); ops != "session_binding:Recto kip_commit:Recto session_binding:Tertia canon_pull:Tertia reconcile_report:Tertia read_receipt:Tertia propose:Recto propose:Recto totp_accept:practitioner airlock_stage:practitioner airlock_revert:system land_merge:practitioner" {
		t.Fatalf("rows of the writes and the land: %s", ops)
	}
	for _, r := range rows[before:] {
		sameShape(t, rows[:exp.Audit.Count], r)
	}
	merge := rows[len(rows)-1]
	if str(merge.ResultOID) != oid || str(merge.OpID) != "land-"+oid[:12] || !strings.Contains(string(merge.Detail), `"evidence":"cli-confirm"`) {
		t.Fatalf("land_merge row: op_id %s result %s detail %s", str(merge.OpID), str(merge.ResultOID), merge.Detail)
	}

	// The land's anchor commits on top of 0.1.5's anchor chain, in 0.1.5's audit-head.json
	// form and commit shape, and names a row of the continued chain (U-50).
	anchor := landed["anchor"].(map[string]any)
	aseq, ahead := int64(anchor["seq"].(float64)), anchor["head"].(string)
	if aseq <= int64(exp.Audit.Count) || aseq > int64(len(rows)) || rows[aseq-1].Hash != ahead {
		t.Fatalf("anchor %v: not a new row of the continued chain (%d rows)", anchor, len(rows))
	}
	if got := gitOut(t, cfg.GitDir, "rev-parse", "refs/cap/audit-anchor^1"); got != exp.Refs["refs/cap/audit-anchor"] {
		t.Fatalf("new anchor's parent %s, want 0.1.5's anchor %s", got, exp.Refs["refs/cap/audit-anchor"])
	}
	if got, want := gitOut(t, cfg.GitDir, "show", "refs/cap/audit-anchor:audit-head.json"), fmt.Sprintf(`{"seq":%d,"head":"%s"}`, aseq, ahead); got != want {
		t.Fatalf("audit-head.json %s, want %s", got, want)
	}
	if got := gitOut(t, cfg.GitDir, "log", "-1", "--format=%an|%s", "refs/cap/audit-anchor"); got != fmt.Sprintf("system|audit anchor @ seq %d", aseq) {
		t.Fatalf("anchor commit %q", got)
	}
	code, v, stderr = admin(t, "--data", data, "--config", conf, "verify")
	if code != 0 || v["audit_verify_ok"] != true || v["first_bad_seq"] != nil || v["audit_vs_anchor"] != true {
		t.Fatalf("verify after the land: %d %v %s", code, v, stderr)
	}
	// Every Go write already has its row: unlike 0.1.5's reconciles (rows 65…70 backfilled
	// them), Tertia's carries its op_id (D-14), so reconcile-from-git finds nothing.
	if r := rows[before+4]; str(r.OpID) != "reconcile-"+exp.CanonHead[:12] {
		t.Errorf("reconcile_report op_id %s, want reconcile-%s (D-14)", str(r.OpID), exp.CanonHead[:12])
	}
	if code, r, stderr := admin(t, "--data", data, "--config", conf, "reconcile"); code != 0 || r["backfilled"] != float64(0) {
		t.Fatalf("reconcile after the Go writes: %d %v %s", code, r, stderr)
	}
	code, st, stderr = admin(t, "--data", data, "--config", conf, "status")
	if code != 0 || st["canon_seq"] != "::3F" || st["audit_events"] != float64(len(rows)) || st["audit_vs_anchor"] != true {
		t.Fatalf("status after the land: %d %v %s", code, st, stderr)
	}
}

// TestUp_Open015OwnConfig: the 0.1.5 deployment served with its own, unmodified stasima.toml
// from its own directory, as 0.1.5 ran it — relative git_dir, blank map_db and audit_db
// resolving next to it (operations §8, D-26) — answers expected.json's reads; only map_search
// is compared as the set of hits, since the Go default search_mode (hybrid) ranks by
// reciprocal-rank fusion where 0.1.5 ranked by embedding score alone (operations §8.2).
func TestUp_Open015OwnConfig(t *testing.T) {
	dep := unpackDeployment(t)
	var exp expectedDeployment
	b, err := os.ReadFile(filepath.Join(dep, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dep)
	data := t.TempDir()
	cfg, err := loadUpConfig(data, "stasima.toml", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GitDir != "stasima.git" || cfg.MapDB != "map_index.sqlite" || cfg.AuditDB != "audit.sqlite" || cfg.SeqOrigin != 0x3b {
		t.Fatalf("resolved git_dir %q map_db %q audit_db %q seq_origin %#x", cfg.GitDir, cfg.MapDB, cfg.AuditDB, cfg.SeqOrigin)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	sessions := map[string]*mcp.ClientSession{}
	for i, r := range exp.Reads {
		seat, _ := r.Args["instance_id"].(string)
		if sessions[seat] == nil {
			sessions[seat] = mcpSession(t, n)
		}
		got := mustCall(t, sessions[seat], r.Tool, r.Args)
		var want map[string]any
		if err := json.Unmarshal(r.Result, &want); err != nil {
			t.Fatal(err)
		}
		switch r.Tool {
		case "announce":
			sameOrientation(t, i, got, want)
		case "map_search":
			got, want = hitSet(got), hitSet(want)
		case "canon_state":
			got = without015Extensions(t, got)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("read %d %s(%v):\n got %s\nwant %s", i, r.Tool, r.Args, gb, wb)
		}
	}
	if code, v, stderr := admin(t, "--data", data, "--config", "stasima.toml", "verify"); code != 0 || v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
		t.Fatalf("verify: %d %v %s", code, v, stderr)
	}
}

// without015Extensions drops from a canon_state answer the one field Go adds after 0.1.5's
// (README deviations): checkpoint, the audit log's latest signed checkpoint, which 0.1.5 did
// not have. It must be there, and be a signed note; every other field is compared exactly.
func without015Extensions(t *testing.T, got map[string]any) map[string]any {
	t.Helper()
	cp, ok := got["checkpoint"].(string)
	if !ok || !strings.Contains(cp, "\n\n— ") {
		t.Errorf("canon_state checkpoint %v: want a signed checkpoint note", got["checkpoint"])
	}
	out := maps.Clone(got)
	delete(out, "checkpoint")
	return out
}

// hitSet reduces a map_search answer to its hits' paths and refs, sorted.
func hitSet(res map[string]any) map[string]any {
	var hits []string
	for _, h := range res["results"].([]any) {
		m := h.(map[string]any)
		hits = append(hits, fmt.Sprint(m["ref"], " ", m["path"]))
	}
	slices.Sort(hits)
	return map[string]any{"hits": hits}
}

// checkReads calls every read of expected.json in order, on the session of its seat, and
// compares the answer with 0.1.5's (with the result of override where it holds one).
func checkReads(t *testing.T, exp expectedDeployment, sessionOf func(map[string]any) *mcp.ClientSession, override map[int]json.RawMessage) {
	t.Helper()
	if len(exp.Reads) != 20 {
		t.Fatalf("expected.json lists %d reads", len(exp.Reads))
	}
	for i, r := range exp.Reads {
		got, errText := call(t, sessionOf(r.Args), r.Tool, r.Args)
		if errText != "" {
			t.Errorf("read %d %s(%v): %s", i, r.Tool, r.Args, errText)
			continue
		}
		raw := r.Result
		if o, ok := override[i]; ok {
			raw = o
		}
		var want map[string]any
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if r.Tool == "announce" {
			sameOrientation(t, i, got, want)
		}
		if r.Tool == "canon_state" {
			got = without015Extensions(t, got)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("read %d %s(%v):\n got %s\nwant %s", i, r.Tool, r.Args, gb, wb)
		}
	}
}

// chain reads every audit row and checks it extends the fixture's: seqs 1…n without a gap,
// each prev_hash the previous hash, and row count (70) still hashing to the recorded head.
func chain(t *testing.T, n *node, exp expectedDeployment) []schema.AuditRow {
	t.Helper()
	rows := auditRows(t, n, "")
	if len(rows) < exp.Audit.Count || rows[exp.Audit.Count-1].Hash != exp.Audit.Head {
		t.Fatalf("the 0.1.5 chain is no longer a prefix: %d rows", len(rows))
	}
	for i, r := range rows {
		if r.Seq != int64(i+1) || (i > 0 && r.PrevHash != rows[i-1].Hash) {
			t.Fatalf("row %d: seq %d prev_hash %s breaks the chain", i, r.Seq, r.PrevHash)
		}
	}
	return rows
}

// sameShape checks r against the first row of its op and outcome among the 0.1.5 rows: which
// columns are null, the detail's keys, and the ts form (audit.md: "+00:00", six fractional
// digits unless the microsecond is zero).
func sameShape(t *testing.T, fixture []schema.AuditRow, r schema.AuditRow) {
	t.Helper()
	nulls := func(r schema.AuditRow) string {
		var b strings.Builder
		for _, p := range []*string{r.TS, r.Actor, r.Op, r.TargetRef, r.TargetPath, r.OpID, r.ResultOID, r.Outcome} {
			b.WriteString(map[bool]string{true: "0", false: "1"}[p == nil])
		}
		return b.String()
	}
	keys := func(d json.RawMessage) string {
		var m map[string]any
		if err := json.Unmarshal(d, &m); err != nil {
			t.Fatalf("detail %s: %v", d, err)
		}
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return strings.Join(ks, ",")
	}
	for _, f := range fixture {
		if str(f.Op) != str(r.Op) || str(f.Outcome) != str(r.Outcome) {
			continue
		}
		cols, want := nulls(f), keys(f.Detail)
		switch str(r.Op) {
		case "land_merge":
			want = withKey(want, "evidence") // D-17; a CLI land is untagged (U-20)
		case "read_receipt":
			want = withKey(want, "session") // D-13
		case "reconcile_report":
			cols = cols[:5] + "1" + cols[6:] // D-14: op_id reconcile-<tip12>
		case "totp_accept", "airlock_stage", "airlock_revert":
			// Caused by the stage_approve/stage_revert tool calls: 0.1.5 left them untagged,
			// Go tags every tool-caused row (U-20 SHOULD).
			want = withKey(want, "session")
		}
		if nulls(r) != cols || keys(r.Detail) != want {
			t.Errorf("%s row %d: columns %s detail keys %s; 0.1.5 row %d: columns %s detail keys %s",
				str(r.Op), r.Seq, nulls(r), keys(r.Detail), f.Seq, cols, want)
		}
		if !tsForm.MatchString(str(r.TS)) {
			t.Errorf("%s row %d: ts %s is not 0.1.5's form", str(r.Op), r.Seq, str(r.TS))
		}
		return
	}
	t.Errorf("no 0.1.5 %s row with outcome %s to compare row %d with", str(r.Op), str(r.Outcome), r.Seq)
}

// withKey adds k to a sorted, comma-separated key list.
func withKey(keys, k string) string {
	ks := append(strings.FieldsFunc(keys, func(r rune) bool { return r == ',' }), k)
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

var tsForm = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$`)

// pathsOf is the path of each pointer in a list of them.
func pathsOf(list any) []string {
	var out []string
	for _, p := range list.([]any) {
		out = append(out, p.(map[string]any)["path"].(string))
	}
	return out
}

// opsOf is "op:actor" of each row, space-separated.
func opsOf(rows []schema.AuditRow) string {
	ops := make([]string, len(rows))
	for i, r := range rows {
		ops[i] = str(r.Op) + ":" + str(r.Actor)
	}
	return strings.Join(ops, " ")
}

func gitOut(t *testing.T, gitDir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"--git-dir", gitDir}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// TestUp_Open015OnPostgres is the compose-shaped move of the 0.1.5 deployment: the SQLite audit
// log restored into Postgres (O-restore-2), the index rebuilt into Postgres by `reindex` (S-80,
// S-81: an index is always curable by a reindex), then every read answers as expected.json's
// after-reindex form, and a new write continues the chain there.
func TestUp_Open015OnPostgres(t *testing.T) {
	dep := unpackDeployment(t)
	var exp expectedDeployment
	b, err := os.ReadFile(filepath.Join(dep, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "stasima.toml")
	toml := fmt.Sprintf(`git_dir = %q
audit_dsn = %q
index_dsn = %q
deployment_name = "Fixture Practice"
approvers = ["practitioner"]
embed_backend = "stub"
search_mode = "embedding"
`, filepath.Join(dep, "stasima.git"), pgtest.Schema(t), pgtest.Schema(t))
	if err := os.WriteFile(conf, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if code, r, stderr := admin(t, "--data", data, "--config", conf, "restore-audit", filepath.Join(dep, "audit.sqlite")); code != 0 || r["restored"] != float64(exp.Audit.Count) {
		t.Fatalf("restore-audit: %d %v %s", code, r, stderr)
	}
	cfg, err := loadUpConfig(data, conf, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	if code, ri, stderr := admin(t, "--data", data, "--config", conf, "reindex"); code != 0 || ri["reindexed"] != float64(exp.MapIndex.AdminReindexReturns) {
		t.Fatalf("reindex into postgres: %d %v %s", code, ri, stderr)
	}
	after := map[int]json.RawMessage{}
	for _, d := range exp.ReindexDifferences {
		after[d.ReadIndex] = d.Result
	}
	sessions := map[string]*mcp.ClientSession{}
	sessionOf := func(args map[string]any) *mcp.ClientSession {
		seat, _ := args["instance_id"].(string)
		if sessions[seat] == nil {
			sessions[seat] = mcpSession(t, n)
		}
		return sessions[seat]
	}
	checkReads(t, exp, sessionOf, after)
	if t.Failed() {
		t.FailNow()
	}
	mustCall(t, sessionOf(map[string]any{"instance_id": "Verso"}), "kip_commit", map[string]any{"instance_id": "Verso", "domain": "practice", "slug": "on-postgres",
		"body": "The chain moved to Postgres and goes on.", "op_id": "go-pg1"})
	if rows := chain(t, n, exp); opsOf(rows[exp.Audit.Count:]) != "session_binding:Verso kip_commit:Verso" || rows[exp.Audit.Count].PrevHash != exp.Audit.Head {
		t.Fatalf("rows after the 0.1.5 head: %s", opsOf(rows[exp.Audit.Count:]))
	}
	if code, v, stderr := admin(t, "--data", data, "--config", conf, "verify"); code != 0 || v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
		t.Fatalf("verify on postgres: %d %v %s", code, v, stderr)
	}
}
