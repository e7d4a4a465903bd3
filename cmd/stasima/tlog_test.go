package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/tlog"
	"github.com/stasima/stasima/services/audit"
)

// auditTable015 is every row of audit.sqlite's audit_events in 0.1.5's twelve columns, as text.
func auditTable015(t *testing.T) string {
	t.Helper()
	db, err := sql.Open("sqlite", "audit.sqlite")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT seq, ts, actor, op, target_ref, target_path, op_id, result_oid, outcome, detail, prev_hash, hash FROM audit_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var v [12]sql.NullString
		ptrs := make([]any, len(v))
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\n%v", v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// verifyProofCLI runs `stasima verify-proof` and returns its exit code and output.
func verifyProofCLI(args ...string) (int, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"verify-proof"}, args...), &out, &errb)
	return code, out.String() + errb.String()
}

// The 0.1.5 deployment opens and gets its first signed checkpoint over its 70 rows; every
// proof admin prove writes verifies offline with only the public key, a changed row or a
// checkpoint of another key fails, and 0.1.5's own chain and anchor checks still pass.
func TestTlog_Open015Checkpoint(t *testing.T) {
	dep := unpackDeployment(t)
	t.Chdir(dep)
	data := t.TempDir()
	conf := "stasima.toml"
	rowsBefore := auditTable015(t)
	code, cp, stderr := admin(t, "--data", data, "--config", conf, "checkpoint")
	if code != 0 || cp["size"] != float64(70) {
		t.Fatalf("checkpoint: exit %d %v %s", code, cp, stderr)
	}
	// The tree is additive: every row's 0.1.5 columns, hashes included, are as they were.
	if after := auditTable015(t); after != rowsBefore {
		t.Fatalf("audit_events changed by the first checkpoint:\n before %s\n after  %s", rowsBefore, after)
	}
	key, _ := cp["key"].(string)
	if fi, err := os.Stat("audit-log.key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log key beside audit.sqlite: %v, %v", fi, err)
	}
	dir := t.TempDir()
	write := func(name string, v any) string {
		b, _ := json.Marshal(v)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cpFile := write("checkpoint.json", cp)
	if code, out := verifyProofCLI("--key", key, cpFile); code != 0 || !strings.Contains(out, `"size": 70`) {
		t.Fatalf("verify checkpoint: %d %s", code, out)
	}
	for _, seq := range []string{"1", "62", "70"} {
		code, p, stderr := admin(t, "--data", data, "--config", conf, "prove", seq)
		if code != 0 {
			t.Fatalf("prove %s: %d %s", seq, code, stderr)
		}
		f := write("proof-"+seq+".json", p)
		if code, out := verifyProofCLI("--key", key, f); code != 0 || !strings.Contains(out, `"kind": "inclusion"`) {
			t.Fatalf("verify proof %s: %d %s", seq, code, out)
		}
		row := p["row"].(map[string]any)
		row["actor"] = "mallory"
		f = write("changed-"+seq+".json", p)
		if code, out := verifyProofCLI("--key", key, f); code != 1 || !strings.Contains(out, "differs from the signed checkpoint at size "+seq) {
			t.Fatalf("changed row %s: %d %s", seq, code, out)
		}
	}
	code, p, stderr := admin(t, "--data", data, "--config", conf, "prove", "--from", cpFile)
	if code != 0 || p["kind"] != schema.TlogConsistency {
		t.Fatalf("prove --from: %d %v %s", code, p, stderr)
	}
	if code, out := verifyProofCLI("--key", key, write("consistency.json", p)); code != 0 {
		t.Fatalf("verify consistency: %d %s", code, out)
	}
	other := "stasima.local/audit+00000000+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij"
	if code, _ := verifyProofCLI("--key", other, cpFile); code == 0 {
		t.Fatal("a checkpoint verified with another key")
	}
	if code, v, stderr := admin(t, "--data", data, "--config", conf, "verify"); code != 0 || v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
		t.Fatalf("verify: %d %v %s", code, v, stderr)
	}
}

// GET /checkpoint serves the latest signed checkpoint as text/plain to anyone, and it verifies
// with the key admin checkpoint prints.
func TestTlog_GatewayCheckpoint(t *testing.T) {
	n := testNode(t)
	resp, err := http.Get("http://" + n.gw.Addr() + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /checkpoint: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// The key file beside the audit log holds the signer and the verifier key.
	kb, err := os.ReadFile(filepath.Join(filepath.Dir(n.cfg.AuditDB), "audit-log.key"))
	if err != nil {
		t.Fatal(err)
	}
	keys := strings.Fields(string(kb))
	if c, _, err := tlog.Open(body, keys[len(keys)-1]); err != nil {
		t.Fatalf("served checkpoint %q: %+v, %v", body, c, err)
	}
}

// landAndAnchor has Recto reconcile and propose an entry with the log entry seq, lands it
// with admin land, then runs admin anchor.
func landAndAnchor(t *testing.T, s *mcp.ClientSession, data, seq string) {
	t.Helper()
	reconcile(t, s, "Recto")
	id := "p-cp" + seq
	mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": id, "domain": "practice", "slug": "cp-" + seq,
		"body": "Checkpoint " + seq, "op_id": id + "-1"})
	if _, e := proposeLog(t, s, "Recto", id, seq, "Land "+seq); e != "" {
		t.Fatalf("propose log %s: %s", seq, e)
	}
	if code, _, stderr := admin(t, "--data", data, "land", id); code != 0 {
		t.Fatalf("land %s: %s", seq, stderr)
	}
	if code, _, stderr := admin(t, "--data", data, "anchor"); code != 0 {
		t.Fatalf("anchor after %s: %s", seq, stderr)
	}
}

// Every land and every admin anchor commits the latest signed checkpoint on
// refs/cap/audit-checkpoint, each commit's parent the previous checkpoint: the ref's history is
// a chain of checkpoints of growing trees, each signed by the log key and each consistent with
// the one before it, and its tip is the checkpoint admin checkpoint serves.
func TestTlog_CheckpointRef(t *testing.T) {
	n, data := bootNode(t)
	s := mcpSession(t, n)
	for _, seq := range []string{"3c", "3d"} {
		landAndAnchor(t, s, data, seq)
	}
	code, cp, stderr := admin(t, "--data", data, "checkpoint")
	if code != 0 {
		t.Fatal(stderr)
	}
	key := cp["key"].(string)
	// canon_state serves the same latest checkpoint to agents, read-only.
	if cs := mustCall(t, s, "canon_state", nil); cs["checkpoint"] != cp["checkpoint"] {
		t.Fatalf("canon_state checkpoint %v, admin checkpoint %v", cs["checkpoint"], cp["checkpoint"])
	}
	history := strings.Fields(gitOut(t, n.cfg.GitDir, "rev-list", "--first-parent", "refs/cap/audit-checkpoint"))
	if len(history) < 2 {
		t.Fatalf("checkpoint history %v: want a commit per land at least", history)
	}
	if tip := gitOut(t, n.cfg.GitDir, "show", history[0]+":checkpoint"); tip+"\n" != cp["checkpoint"] {
		t.Fatalf("tip checkpoint %q, admin checkpoint %q", tip, cp["checkpoint"])
	}
	dir := t.TempDir()
	var newer *tlog.Checkpoint
	for i, oid := range history {
		if parents := strings.Fields(gitOut(t, n.cfg.GitDir, "rev-list", "--parents", "-n", "1", oid)); len(parents) > 2 ||
			(i+1 < len(history) && parents[1] != history[i+1]) {
			t.Fatalf("checkpoint commit %s parents %v", oid, parents[1:])
		}
		note := gitOut(t, n.cfg.GitDir, "show", oid+":checkpoint") + "\n"
		c, _, err := tlog.Open([]byte(note), key)
		if err != nil {
			t.Fatalf("checkpoint at %s: %v", oid, err)
		}
		if newer != nil {
			if c.Size >= newer.Size {
				t.Fatalf("checkpoint %s of size %d is not older than its child's %d", oid, c.Size, newer.Size)
			}
			f := filepath.Join(dir, oid)
			if err := os.WriteFile(f, []byte(note), 0o644); err != nil {
				t.Fatal(err)
			}
			code, p, stderr := admin(t, "--data", data, "prove", "--from", f)
			if code != 0 {
				t.Fatalf("prove --from %d: %s", c.Size, stderr)
			}
			pb, _ := json.Marshal(p)
			pf := filepath.Join(dir, oid+".proof")
			if err := os.WriteFile(pf, pb, 0o644); err != nil {
				t.Fatal(err)
			}
			if code, out := verifyProofCLI("--key", key, pf); code != 0 {
				t.Fatalf("consistency from %d: %s", c.Size, out)
			}
		}
		newer = &c
	}
	if got := gitOut(t, n.cfg.GitDir, "log", "-1", "--format=%an|%s", "refs/cap/audit-checkpoint"); !strings.HasPrefix(got, "system|audit checkpoint @ size ") {
		t.Fatalf("checkpoint commit %q", got)
	}
}

// With witness_key configured, admin backup and admin mirror obtain the witness's cosignature
// on the latest checkpoint — the witness asks the deployment for the consistency proof from
// the last one it cosigned — and admin verify reports the last cosigned size. stasima witness
// --data asks the deployment the same way. A witness whose cosigned checkpoint the log
// contradicts refuses the backup's cosignature with "fork detected" and both roots.
func TestTlog_WitnessInBackup(t *testing.T) {
	n, data := bootNode(t)
	s := mcpSession(t, n)
	wdir := t.TempDir()
	t.Setenv("STASIMA_WITNESS_KEY", filepath.Join(wdir, "w.key"))
	landAndAnchor(t, s, data, "3c")
	_, cp1, _ := admin(t, "--data", data, "checkpoint")
	dest := t.TempDir()
	code, res, stderr := admin(t, "--data", data, "backup", dest)
	if code != 0 || res["witness_cosigned_size"] != cp1["size"] || res["witness"] != "stasima-witness" {
		t.Fatalf("backup with a witness: %d %v %s", code, res, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dest, "audit-checkpoint"))
	if err != nil || strings.Count(string(b), "\n— ") != 2 {
		t.Fatalf("cosigned checkpoint in the backup: %q %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(wdir, "witness-state", "checkpoint")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("witness state beside its key: %v %v", fi, err)
	}

	// The log grows; the mirror's cosignature needs the consistency proof, which the witness
	// asks the deployment for.
	landAndAnchor(t, s, data, "3d")
	_, cp2, _ := admin(t, "--data", data, "checkpoint")
	remote := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", remote).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	code, m, stderr := admin(t, "--data", data, "mirror", "--stage", t.TempDir(), remote)
	if code != 0 || m["witness_cosigned_size"] != cp2["size"] || cp2["size"].(float64) <= cp1["size"].(float64) {
		t.Fatalf("mirror with a witness: %d %v %s (checkpoints %v, %v)", code, m, stderr, cp1["size"], cp2["size"])
	}
	if code, v, stderr := admin(t, "--data", data, "verify"); code != 0 || v["witness_cosigned_size"] != cp2["size"] || v["audit_verify_ok"] != true {
		t.Fatalf("verify with a witness: %d %v %s", code, v, stderr)
	}

	// A second, independent witness asks the deployment itself (no checkpoint or proof file),
	// pinning the log's key on first use, then follows the log's growth.
	w2 := []string{"--key", filepath.Join(t.TempDir(), "w2.key"), "--state", filepath.Join(t.TempDir(), "w2"), "--data", data}
	if code, out, errs := witnessCLI(w2...); code != 0 || strings.Count(out, "\n— ") != 2 || !strings.Contains(out, fmt.Sprintf("\n%v\n", cp2["size"])) {
		t.Fatalf("witness --data: %d %q %s", code, out, errs)
	}
	// A third asks over HTTP, the gateway's GET /checkpoint and POST /checkpoint/consistency,
	// with the log key given.
	w3 := []string{"--key", filepath.Join(t.TempDir(), "w3.key"), "--state", filepath.Join(t.TempDir(), "w3"),
		"--log-key", cp2["key"].(string), "--url", "http://" + n.gw.Addr()}
	if code, out, errs := witnessCLI(w3...); code != 0 || strings.Count(out, "\n— ") != 2 {
		t.Fatalf("witness --url: %d %q %s", code, out, errs)
	}
	landAndAnchor(t, s, data, "3e")
	_, cp3, _ := admin(t, "--data", data, "checkpoint")
	for _, w := range [][]string{w2, w3} {
		if code, out, errs := witnessCLI(w...); code != 0 || strings.Count(out, "\n— ") != 2 || !strings.Contains(out, fmt.Sprintf("\n%v\n", cp3["size"])) {
			t.Fatalf("witness %v after a land: %d %q %s", w[len(w)-1], code, out, errs)
		}
	}
	// The public consistency endpoint refuses what is not a checkpoint of this log.
	resp, err := http.Post("http://"+n.gw.Addr()+"/checkpoint/consistency", "application/json", strings.NewReader(`{"from":"not a checkpoint"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST /checkpoint/consistency with junk: %d", resp.StatusCode)
	}

	// An intruder holding the log key shows the first witness another history of the same
	// size: its state now holds that checkpoint, which the real log contradicts.
	kb, err := os.ReadFile(filepath.Join(filepath.Dir(n.cfg.AuditDB), "audit-log.key"))
	if err != nil {
		t.Fatal(err)
	}
	real, _, err := tlog.Open([]byte(cp3["checkpoint"].(string)), cp3["key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := tlog.Sign(tlog.Checkpoint{Origin: real.Origin, Size: real.Size, Hash: make([]byte, 32)}, strings.Fields(string(kb))[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wdir, "witness-state", "checkpoint"), forged, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = admin(t, "--data", data, "backup", t.TempDir())
	want := fmt.Sprintf("cosigned size %d root %x, offered size %d root %x", real.Size, make([]byte, 32), real.Size, real.Hash)
	if code != 1 || !strings.Contains(stderr, "fork detected") || !strings.Contains(stderr, want) {
		t.Fatalf("backup against a forked witness: %d %s; want fork detected with %s", code, stderr, want)
	}
}

// An intruder with full access — database, log key, repository — rewrites the tail of the log
// after checkpoints were taken: it recomputes the chain over its edit, rebuilds the tree and
// rewrites the git anchor, so 0.1.5's checks (the chain, the anchor) pass. The next anchor is
// refused by the checkpoint history on refs/cap/audit-checkpoint; with that ref dropped too, a
// verifier holding an earlier checkpoint catches it with verify-proof, naming the first
// differing size, and a witness that cosigned it refuses with "fork detected" (U-10's limit,
// closed by the tlog).
func TestTlog_IntruderRewritesTailAndAnchor(t *testing.T) {
	for _, kind := range []string{"rewrite_tail", "delete_tail"} {
		t.Run(kind, func(t *testing.T) {
			data := t.TempDir()
			cfg, err := loadConfig(data, "", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cfg.BindingMode = "off"
			start := func() *node {
				n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { n.stop(context.Background()) })
				return n
			}
			n := start()
			s := mcpSession(t, n)
			write := func(from, to int) {
				for i := from; i < to; i++ {
					mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Verso", "domain": "practice", "slug": fmt.Sprint(i), "body": "b", "op_id": fmt.Sprint("t", i)})
				}
			}
			dir := t.TempDir()
			checkpoint := func(name string) (string, map[string]any) {
				if code, _, stderr := admin(t, "--data", data, "anchor"); code != 0 {
					t.Fatalf("anchor: %s", stderr)
				}
				code, cp, stderr := admin(t, "--data", data, "checkpoint")
				if code != 0 {
					t.Fatal(stderr)
				}
				b, _ := json.Marshal(cp)
				f := filepath.Join(dir, name)
				if err := os.WriteFile(f, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return f, cp
			}
			w := []string{"--key", filepath.Join(dir, "w.key"), "--state", filepath.Join(dir, "w"), "--data", data}
			write(0, 10)
			cp10, _ := checkpoint("cp10.json")
			if code, _, errs := witnessCLI(w...); code != 0 {
				t.Fatalf("witness at 10: %s", errs)
			}
			write(10, 16)
			cp16, c16 := checkpoint("cp16.json")
			if code, _, errs := witnessCLI(w...); code != 0 {
				t.Fatalf("witness at 16: %s", errs)
			}
			key := c16["key"].(string)
			n.stop(context.Background())

			// The intruder: rows from 12 on changed or gone, the chain recomputed, the tree
			// rebuilt at the next open, the anchor rewritten to the new head.
			db, err := sql.Open("sqlite", cfg.AuditDB)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			exec1 := func(q string, args ...any) {
				if _, err := db.Exec(q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if kind == "rewrite_tail" {
				exec1(`UPDATE audit_events SET actor = 'Mallory' WHERE seq = 12`)
			} else {
				exec1(`DELETE FROM audit_events WHERE seq >= 12`)
			}
			exec1(`DELETE FROM merkle_nodes`)
			seq, head := intruderRechain(t, db)
			intruderAnchor(t, cfg.GitDir, seq, head)
			db.Close()

			start()
			// The checkpoint history in git already refuses the rewritten log at the next anchor…
			if code, _, stderr := admin(t, "--data", data, "anchor"); code != 1 || !strings.Contains(stderr, "fork") {
				t.Fatalf("anchor over the rewritten log: %d %s; want the checkpoint ref to refuse it", code, stderr)
			}
			// …so the intruder drops that ref too, and anchors its rewritten head again.
			if out, err := exec.Command("git", "--git-dir", cfg.GitDir, "update-ref", "-d", "refs/cap/audit-checkpoint").CombinedOutput(); err != nil {
				t.Fatalf("drop the checkpoint ref: %v %s", err, out)
			}
			// 0.1.5's checks pass: the chain verifies and matches the (rewritten) anchor.
			if code, v, stderr := admin(t, "--data", data, "verify"); code != 0 || v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
				t.Fatalf("verify after the intruder: %d %v %s", code, v, stderr)
			}
			latest, _ := checkpoint("latest.json")
			// The checkpoint of 10 rows still holds (rows 1..11 are untouched)…
			if code, out := verifyProofCLI("--key", key, "--checkpoint", cp10, latest); code != 0 {
				t.Fatalf("latest against the checkpoint of 10: %d %s", code, out)
			}
			// …the one of 16 does not: the first kept size at or after the edit.
			want := "at size 16"
			if kind == "delete_tail" {
				want = "at size 12" // the first missing row
			}
			if code, out := verifyProofCLI("--key", key, "--checkpoint", cp16, latest); code != 1 || !strings.Contains(out, "differs from the signed checkpoint "+want) {
				t.Fatalf("latest against the checkpoint of 16: %d %s; want %s", code, out, want)
			}
			code, _, errs := witnessCLI(w...)
			if code != 1 || !strings.Contains(errs, "fork detected") || !strings.Contains(errs, "cosigned size 16 root") {
				t.Fatalf("witness after the intruder: %d %s", code, errs)
			}
		})
	}
}

// intruderRechain recomputes every row's prev_hash and hash in seq order, as an intruder who
// edited rows would, and returns the new {count, head}.
func intruderRechain(t *testing.T, db *sql.DB) (int64, string) {
	t.Helper()
	rows, err := db.Query(`SELECT seq, ts, actor, op, target_ref, target_path, op_id, result_oid, outcome, detail FROM audit_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var all []schema.AuditRow
	for rows.Next() {
		var r schema.AuditRow
		var ts, actor, op, ref, path, opID, oid, outcome, detail sql.NullString
		if err := rows.Scan(&r.Seq, &ts, &actor, &op, &ref, &path, &opID, &oid, &outcome, &detail); err != nil {
			t.Fatal(err)
		}
		p := func(v sql.NullString) *string {
			if !v.Valid {
				return nil
			}
			return &v.String
		}
		r.TS, r.Actor, r.Op, r.TargetRef, r.TargetPath, r.OpID, r.ResultOID, r.Outcome = p(ts), p(actor), p(op), p(ref), p(path), p(opID), p(oid), p(outcome)
		if detail.Valid {
			r.Detail = json.RawMessage(detail.String)
		}
		all = append(all, r)
	}
	rows.Close()
	prev := strings.Repeat("0", 64)
	for _, r := range all {
		r.PrevHash = prev
		h, err := audit.RowHash(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?`, prev, h, r.Seq); err != nil {
			t.Fatal(err)
		}
		prev = h
	}
	return int64(len(all)), prev
}

// intruderAnchor commits {seq, head} on refs/cap/audit-anchor behind capstore's back.
func intruderAnchor(t *testing.T, gitDir string, seq int64, head string) {
	t.Helper()
	git := func(stdin string, args ...string) string {
		cmd := exec.Command("git", append([]string{"--git-dir", gitDir}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=system", "GIT_AUTHOR_EMAIL=system@stasima.local", "GIT_COMMITTER_NAME=capstore", "GIT_COMMITTER_EMAIL=capstore@stasima.local")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	blob := git(fmt.Sprintf(`{"seq":%d,"head":%q}`, seq, head), "hash-object", "-w", "--stdin")
	tree := git("100644 blob "+blob+"\taudit-head.json\n", "mktree")
	parent := git("", "rev-parse", "refs/cap/audit-anchor")
	commit := git("", "commit-tree", tree, "-p", parent, "-m", fmt.Sprintf("audit anchor @ seq %d", seq))
	git("", "update-ref", "refs/cap/audit-anchor", commit)
}

// verify-proof refuses hostile files with exit 1 and a message, and survives each: missing,
// empty, oversized (refused unread), a directory, not UTF-8, a bogus kind, a proof without a
// row, a checkpoint another key signed, and a malformed key.
func TestTlog_VerifyProofRefusals(t *testing.T) {
	dir := t.TempDir()
	skey, vkey, err := tlog.GenerateKey(rand.Reader, "example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	otherS, _, _ := tlog.GenerateKey(rand.Reader, "example.org/log")
	sign := func(skey string) string {
		msg, err := tlog.Sign(tlog.Checkpoint{Origin: "example.org/log", Size: 3, Hash: make([]byte, 32)}, skey)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := write("big", "")
	if err := os.Truncate(big, maxProofFile+1); err != nil {
		t.Fatal(err)
	}
	good := write("good", sign(skey))
	tests := []struct{ name, key, file string }{
		{"missing", vkey, filepath.Join(dir, "absent")},
		{"empty", vkey, write("empty", "")},
		{"oversized", vkey, big},
		{"directory", vkey, dir},
		{"not_utf8", vkey, write("bin", "\xff\xfe\x00\x01")},
		{"bogus_kind", vkey, write("kind", `{"kind":"bogus","checkpoint":"x"}`)},
		{"inclusion_without_row", vkey, write("norow", `{"kind":"inclusion","checkpoint":`+strconv.Quote(sign(skey))+`}`)},
		{"forged_checkpoint", vkey, write("forged", sign(otherS))},
		{"malformed_key", "not+a+key", good},
		{"oversized_key_file", big, good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, out := verifyProofCLI("--key", tt.key, tt.file); code != 1 || out == "" || strings.Contains(tt.name, "oversized") && !strings.Contains(out, "is over") {
				t.Errorf("exit %d, output %q; want a refusal", code, out)
			}
		})
	}
	if code, out := verifyProofCLI("--key", vkey, good); code != 0 {
		t.Fatalf("the good checkpoint: exit %d %s", code, out)
	}
}
