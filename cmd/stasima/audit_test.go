package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	_ "modernc.org/sqlite"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/pgtest"
	"github.com/stasima/stasima/pkg/schema"
)

// auditRows reads rows of op through the audit service's query surface (U-14).
func auditRows(t *testing.T, n *node, op string) []schema.AuditRow {
	t.Helper()
	js, _ := jetstream.New(n.nc)
	c := busclient.New(n.nc, js, bus.MustSubjects(n.cfg.BusPrefix), "test", 10*time.Second)
	f := schema.AuditFilter{}
	if op != "" {
		f.Op = &op
	}
	rows, err := busclient.AuditEvents(context.Background(), c, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// TestUp_AuditRowsOfKipCommit: the rows tools.md and audit.md U-21 list for kip_commit — ok,
// replay, immutability denial, lane denial, name collision — are there the moment each call
// returns (the ARCH-6 barrier), with the session tag (U-20).
func TestUp_AuditRowsOfKipCommit(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	args := map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "a", "body": "first", "op_id": "op-a"}
	c := mustCall(t, s, "kip_commit", args)
	rows := auditRows(t, n, "kip_commit")
	if len(rows) != 1 {
		t.Fatalf("after one kip_commit: %d rows", len(rows))
	}
	r := rows[0]
	if str(r.Actor) != "Recto" || str(r.TargetRef) != "refs/cap/perspectives/Recto" || str(r.TargetPath) != "practice/a.md" ||
		str(r.OpID) != "op-a" || str(r.ResultOID) != c["oid"] || str(r.Outcome) != "ok" {
		t.Fatalf("ok row: %+v", r)
	}
	var d map[string]any
	_ = json.Unmarshal(r.Detail, &d)
	if sess, _ := d["session"].(string); len(sess) != 7 || sess[0] != 's' || len(d) != 1 { // I-30: "s" + 6 hex
		t.Fatalf("ok row detail %s: want {} plus the session tag", r.Detail)
	}

	mustCall(t, s, "kip_commit", args) // replay
	args2 := map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "a", "body": "changed", "op_id": "op-b"}
	if _, e := call(t, s, "kip_commit", args2); e == "" {
		t.Fatal("immutability not enforced")
	}
	if _, e := call(t, s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "messages", "slug": "m", "body": "x", "op_id": "op-m"}); e == "" {
		t.Fatal("lane not enforced")
	}
	// The casing variant comes from its own session: on Recto's, binding refuses it first (I-15).
	if _, e := call(t, mcpSession(t, n), "kip_commit", map[string]any{"instance_id": "recto", "domain": "practice", "slug": "b", "body": "x", "op_id": "op-c"}); !strings.Contains(e, "case") {
		t.Fatalf("name fork: %q", e)
	}
	rows = auditRows(t, n, "kip_commit")
	if len(rows) != 4 {
		for _, r := range rows {
			t.Logf("%s %s %s %s", str(r.Outcome), str(r.TargetPath), str(r.OpID), r.Detail)
		}
		t.Fatalf("kip_commit rows: %d, want ok, replay, immutability denial, lane denial", len(rows))
	}
	want := []struct{ outcome, path, ref, opID, detail string }{
		{"ok", "practice/a.md", "refs/cap/perspectives/Recto", "op-a", ""},
		{"ok", "practice/a.md", "refs/cap/perspectives/Recto", "op-a", `"replayed":true`},
		{"denied", "practice/a.md", "<null>", "<null>", `"reason":"body immutable; supersede to a new slug"`},
		{"denied", "messages/m.md", "refs/cap/perspectives/Recto", "<null>", `"msg":`},
	}
	for i, w := range want {
		r := rows[i]
		if str(r.Outcome) != w.outcome || str(r.TargetPath) != w.path || str(r.TargetRef) != w.ref || str(r.OpID) != w.opID || !strings.Contains(string(r.Detail), w.detail) {
			t.Errorf("row %d: outcome %s path %s ref %s op_id %s detail %s; want %+v", i, str(r.Outcome), str(r.TargetPath), str(r.TargetRef), str(r.OpID), r.Detail, w)
		}
	}
	nc := auditRows(t, n, "name_collision")
	if len(nc) != 1 || str(nc[0].Actor) != "recto" || !strings.Contains(string(nc[0].Detail), `"existing":"Recto"`) {
		t.Fatalf("name_collision rows: %+v", nc)
	}
}

// TestUp_AnchorVerifyTamper: anchor, verify true against it; tamper one field of one row →
// verify names that seq and the anchor check turns false (U-10, U-50, U-52, SC-15).
func TestUp_AnchorVerifyTamper(t *testing.T) {
	data := t.TempDir()
	cfg, err := loadConfig(data, "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.BindingMode = "off" // the chain is counted in kip_commit rows; no session_binding rows (I-10)
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	s := mcpSession(t, n)
	for i := 0; i < 5; i++ {
		mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Verso", "domain": "practice", "slug": fmt.Sprint(i), "body": "b", "op_id": fmt.Sprint("t", i)})
	}
	code, out, stderr := admin(t, "--data", data, "anchor")
	a, _ := out["anchored"].(map[string]any) // O-anchor-1
	if code != 0 || a["seq"] != float64(5) || len(a["head"].(string)) != 64 {
		t.Fatalf("anchor: %d %v %s", code, out, stderr)
	}
	if code, v, _ := admin(t, "--data", data, "verify"); code != 0 || v["audit_verify_ok"] != true || v["first_bad_seq"] != nil || v["audit_vs_anchor"] != true {
		t.Fatalf("verify before tamper: %v", v)
	}
	db, err := sql.Open("sqlite", cfg.AuditDB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_events SET actor = 'Mallory' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	code, v, _ := admin(t, "--data", data, "verify")
	if code != 0 || v["audit_verify_ok"] != false || v["first_bad_seq"] != float64(3) || v["audit_vs_anchor"] != false {
		t.Fatalf("verify after tamper: %v", v)
	}
	if code, st, _ := admin(t, "--data", data, "status"); code != 0 || st["audit_events"] != float64(5) || st["audit_verify_ok"] != false || st["audit_vs_anchor"] != false {
		t.Fatalf("status after tamper: %v", st)
	}
}

// TestUp_ReconcileFromGit: a commit that reached git without its row (a crash between the two,
// INV-18) is backfilled exactly once, with its author and op_id (U-40, U-41, SC-15).
func TestUp_ReconcileFromGit(t *testing.T) {
	data := t.TempDir()
	if code, _, stderr := admin(t, "--data", data, "bootstrap", writeSeed(t)); code != 0 {
		t.Fatal(stderr)
	}
	cfg, _ := loadConfig(data, "", "127.0.0.1:0")
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	mustCall(t, mcpSession(t, n), "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "x", "body": "b", "op_id": "with-row"})
	// An out-of-band commit with trailers and no audit row.
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"--git-dir", cfg.GitDir}, args...)...).Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	tip := git("rev-parse", "refs/cap/perspectives/Recto")
	tree := git("rev-parse", tip+"^{tree}")
	cmd := exec.Command("git", "--git-dir", cfg.GitDir, "commit-tree", tree, "-p", tip, "-m", "KIP practice/x.md\n\nop-id: lost-row\ninstance-id: Recto")
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Recto", "GIT_AUTHOR_EMAIL=Recto@stasima.local", "GIT_COMMITTER_NAME=capstore", "GIT_COMMITTER_EMAIL=capstore@stasima.local")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	git("update-ref", "refs/cap/perspectives/Recto", strings.TrimSpace(string(out)), tip)

	code, r, stderr := admin(t, "--data", data, "reconcile")
	if code != 0 || r["backfilled"] != float64(2) { // the bootstrap commit (U-41) and the lost one
		t.Fatalf("reconcile: %d %v %s", code, r, stderr)
	}
	rows := auditRows(t, n, "reconciled_commit")
	got := map[string]string{}
	for _, row := range rows {
		got[str(row.OpID)] = str(row.Actor)
	}
	if len(rows) != 2 || got["bootstrap"] != "practitioner" || got["lost-row"] != "Recto" {
		t.Fatalf("backfilled rows: %v", got)
	}
	if code, r, _ := admin(t, "--data", data, "reconcile"); code != 0 || r["backfilled"] != float64(0) {
		t.Fatalf("second reconcile: %v", r)
	}
}

// TestUp_Deployment015: a Stasima 0.1.5 deployment opens here: its audit log verifies to the
// recorded head, its anchor matches, and the read tools answer what 0.1.5 answered.
func TestUp_Deployment015(t *testing.T) {
	dep := unpackDeployment(t)
	var exp expectedDeployment
	b, _ := os.ReadFile(filepath.Join(dep, "expected.json"))
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "stasima.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("git_dir = %q\ndeployment_name = \"Fixture Practice\"\napprovers = [\"practitioner\"]\nembed_backend = \"stub\"\ntransport = \"stdio\"\n", filepath.Join(dep, "stasima.git"))), 0o600)
	data := t.TempDir()
	code, v, stderr := admin(t, "--data", data, "--config", conf, "verify")
	if code != 0 || v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
		t.Fatalf("verify the 0.1.5 log: %d %v %s", code, v, stderr)
	}
	code, st, _ := admin(t, "--data", data, "--config", conf, "status")
	if code != 0 || st["audit_events"] != float64(exp.Audit.Count) || st["canon_seq"] != "::3E" {
		t.Fatalf("status: %v", st)
	}

	cfg, err := loadConfig(data, conf, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	s := mcpSession(t, n)
	served := map[string]bool{"kip_get": true, "kip_history": true, "canon_state": true, "list_instances": true, "announce": true}
	checked := 0
	for i, r := range exp.Reads {
		if !served[r.Tool] || r.Args["with_vantages"] == true {
			continue // tools of later issues (index-backed)
		}
		got := mustCall(t, s, r.Tool, r.Args)
		var want map[string]any
		json.Unmarshal(r.Result, &want)
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
		checked++
	}
	if checked < 7 {
		t.Fatalf("only %d reads compared", checked)
	}
}

// TestUp_RestoreAuditIntoPostgres: the 0.1.5 SQLite log imported into a Postgres-backed
// deployment verifies there, against the git anchor too (O-restore-2).
func TestUp_RestoreAuditIntoPostgres(t *testing.T) {
	dep := unpackDeployment(t)
	dsn := pgtest.Schema(t)
	conf := filepath.Join(t.TempDir(), "stasima.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("git_dir = %q\naudit_dsn = %q\n", filepath.Join(dep, "stasima.git"), dsn)), 0o600)
	data := t.TempDir()
	code, r, stderr := admin(t, "--data", data, "--config", conf, "restore-audit", filepath.Join(dep, "audit.sqlite"))
	if code != 0 || r["restored"] != float64(70) {
		t.Fatalf("restore-audit: %d %v %s", code, r, stderr)
	}
	if code, v, _ := admin(t, "--data", data, "--config", conf, "verify"); code != 0 || v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
		t.Fatalf("verify in postgres: %v", v)
	}
	if code, _, stderr := admin(t, "--data", data, "--config", conf, "restore-audit", filepath.Join(dep, "audit.sqlite")); code != 1 || !strings.Contains(stderr, "empty table") {
		t.Fatalf("second restore: %d %s", code, stderr)
	}
}

// TestUp_PostgresOutage: PostgreSQL cut off for 30 s while seats keep committing — the tools
// still succeed (git is truth), the intents wait in JetStream, and once the database is back
// the chain catches up in order with one row per commit.
func TestUp_PostgresOutage(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, pgtest.Schema(t))
	conf := filepath.Join(t.TempDir(), "stasima.toml")
	data := t.TempDir()
	os.WriteFile(conf, []byte(fmt.Sprintf("git_dir = %q\naudit_dsn = %q\naudit_barrier_timeout_s = 2\n", filepath.Join(data, "repo.git"), dsn)), 0o600)
	cfg, err := loadConfig(data, conf, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.BindingMode = "off" // the seq check counts kip_commit rows only; no session_binding rows (I-10)
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	var mu sync.Mutex
	total := 0
	run := func(seat string, until time.Time) {
		s := mcpSession(t, n)
		for i := 0; time.Now().Before(until) || i < 5; i++ {
			mustCall(t, s, "kip_commit", map[string]any{"instance_id": seat, "domain": "practice", "slug": fmt.Sprintf("o-%d", i), "body": "b", "op_id": fmt.Sprintf("%s-%d", seat, i)})
			mu.Lock()
			total++
			mu.Unlock()
		}
	}
	run("Before", time.Time{})
	proxy.Cut()
	var wg sync.WaitGroup
	until := time.Now().Add(30 * time.Second)
	for _, seat := range []string{"Recto", "Verso"} {
		wg.Add(1)
		go func() { defer wg.Done(); run(seat, until) }()
	}
	wg.Wait()
	proxy.Restore()
	run("After", time.Time{})

	deadline := time.Now().Add(2 * time.Minute)
	var rows []schema.AuditRow
	for {
		if rows = auditRows(t, n, "kip_commit"); len(rows) >= total || time.Now().After(deadline) {
			break
		}
	}
	if len(rows) != total {
		t.Fatalf("%d kip_commit rows for %d commits", len(rows), total)
	}
	seen := map[string]bool{}
	for i, r := range rows {
		if r.Seq != int64(i+1) || seen[str(r.OpID)] {
			t.Fatalf("row %d: seq %d op_id %s (gap or duplicate)", i, r.Seq, str(r.OpID))
		}
		seen[str(r.OpID)] = true
	}
	if code, v, _ := admin(t, "--data", data, "--config", conf, "verify"); code != 0 || v["audit_verify_ok"] != true {
		t.Fatalf("verify after the outage: %v", v)
	}
}
