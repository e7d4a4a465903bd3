package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// syncRefs is every ref under the C-refs-2 prefixes with its oid, read with git (the oracle).
func syncRefs(t *testing.T, gitDir string) string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", gitDir, "for-each-ref", "--format=%(refname) %(objectname)",
		"refs/heads/", "refs/cap/", "refs/tags/state/").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// reads is what agents see of a deployment: entries, lists, histories, search.
func reads(t *testing.T, s *mcp.ClientSession, paths []string) string {
	t.Helper()
	var b strings.Builder
	add := func(tool string, args map[string]any) {
		out := mustCall(t, s, tool, args)
		if tool == "map_search" {
			// A rebuild renumbers ins_seq, the tie-break of equal scores (search.md §1): ties
			// compare as sets.
			sortTies(out["results"].([]any))
		}
		j, _ := json.Marshal(out)
		fmt.Fprintf(&b, "%s %v\n%s\n", tool, args, j)
	}
	for _, seat := range []string{"seat-a", "seat-b"} {
		add("list_entries", map[string]any{"ref": seat})
	}
	add("list_entries", map[string]any{"ref": "canon"})
	for _, p := range paths {
		add("kip_get", map[string]any{"ref": "seat-a", "path": p})
		add("kip_history", map[string]any{"ref": "seat-a", "path": p})
	}
	add("map_search", map[string]any{"instance_id": "seat-a", "query": "note about backups", "limit": 100})
	return b.String()
}

func upNode(t *testing.T, data string) *node {
	t.Helper()
	cfg, err := loadConfig(data, "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAdmin_BackupRestoreRoundTrip is operations §7 and SC-16's backup parts: populate, back
// up (the mirror holds every sync ref and tag, verified, INV-12; the audit snapshot; the
// secret), back up again (repeatable, incremental), wipe, restore into a fresh place, and
// the chain and anchor verify and every read is identical. Then mirror pushes
// refs/backup/audit holding only audit.sqlite, and the note says the secret was not sent.
func TestAdmin_BackupRestoreRoundTrip(t *testing.T) {
	data := t.TempDir()
	if code, _, stderr := admin(t, "--data", data, "bootstrap", writeSeed(t)); code != 0 {
		t.Fatalf("bootstrap: %s", stderr)
	}
	n := upNode(t, data)
	s := mcpSession(t, n)
	sessions := map[string]*mcp.ClientSession{"seat-a": mcpSession(t, n), "seat-b": mcpSession(t, n)} // one seat per session
	var paths []string
	for i := 0; i < 4; i++ {
		for _, seat := range []string{"seat-a", "seat-b"} {
			out := mustCall(t, sessions[seat], "kip_commit", map[string]any{"instance_id": seat, "domain": "practice", "slug": fmt.Sprintf("note-%d", i),
				"body": fmt.Sprintf("note about backups %d by %s", i, seat), "op_id": fmt.Sprintf("%s-%d", seat, i)})
			if seat == "seat-a" {
				paths = append(paths, out["path"].(string))
			}
		}
	}
	if code, _, stderr := admin(t, "--data", data, "totp-provision"); code != 0 {
		t.Fatalf("totp-provision: %s", stderr)
	}
	if code, _, stderr := admin(t, "--data", data, "anchor"); code != 0 {
		t.Fatalf("anchor: %s", stderr)
	}
	_, st, _ := admin(t, "--data", data, "status")

	dest := filepath.Join(t.TempDir(), "backup")
	code, b, stderr := admin(t, "--data", data, "backup", dest)
	if code != 0 {
		t.Fatalf("backup: %s", stderr)
	}
	if b["git_sync_ok"] != true || b["audit_events"] != st["audit_events"] || b["synced_refs"].(float64) < 4 {
		t.Fatalf("backup: %v (status %v)", b, st)
	}
	copied := fmt.Sprint(b["copied"])
	for _, want := range []string{"stasima-mirror.git", "audit.sqlite", "totp.secret", "audit-log.key"} {
		if !strings.Contains(copied, want) {
			t.Errorf("copied %s lacks %s", copied, want)
		}
	}
	if got, want := syncRefs(t, filepath.Join(dest, "stasima-mirror.git")), syncRefs(t, n.cfg.GitDir); got != want { // INV-12
		t.Fatalf("mirror refs:\n%s\nlocal refs:\n%s", got, want)
	}
	if fi, err := os.Stat(filepath.Join(dest, "totp.secret")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret copy: %v %v", fi, err)
	}
	// Repeatable and incremental: one more commit, one more backup.
	mustCall(t, sessions["seat-b"], "kip_commit", map[string]any{"instance_id": "seat-b", "domain": "practice", "slug": "late", "body": "after the first backup", "op_id": "late"})
	before := reads(t, s, paths)
	_, st, _ = admin(t, "--data", data, "status")
	if code, b, stderr = admin(t, "--data", data, "backup", dest); code != 0 || b["git_sync_ok"] != true || b["audit_events"] != st["audit_events"] {
		t.Fatalf("second backup: %d %v %s", code, b, stderr)
	}
	localRefs := syncRefs(t, n.cfg.GitDir)
	_, cpBefore, _ := admin(t, "--data", data, "checkpoint")
	n.stop(context.Background())

	// Wipe: a fresh place, nothing but the backup folder.
	data2 := t.TempDir()
	code, r, stderr := admin(t, "--data", data2, "restore", dest)
	if code != 0 {
		t.Fatalf("restore: %s", stderr)
	}
	if v, _ := r["verify"].(map[string]any); v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
		t.Fatalf("restore verify: %v", r)
	}
	if !strings.Contains(fmt.Sprint(r["restored"]), "audit-log.key") {
		t.Errorf("restored %v lacks the audit log key", r["restored"])
	}
	// The log key came back (0600): checkpoints after the restore are signed by the same key.
	if fi, err := os.Stat(filepath.Join(data2, "audit-log.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored log key: %v %v", fi, err)
	}
	if _, cp, stderr := admin(t, "--data", data2, "checkpoint"); cp["key"] != cpBefore["key"] {
		t.Fatalf("log key after restore %v, before %v %s", cp["key"], cpBefore["key"], stderr)
	}
	if code, _, _ := admin(t, "--data", data2, "restore", dest); code != 1 {
		t.Error("a second restore over the restored deployment was not refused")
	}
	if code, v, _ := admin(t, "--data", data2, "verify"); code != 0 || v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
		t.Fatalf("verify after restore: %v", v)
	}
	n2 := upNode(t, data2)
	t.Cleanup(func() { n2.stop(context.Background()) })
	if got := syncRefs(t, n2.cfg.GitDir); got != localRefs {
		t.Errorf("restored refs:\n%s\nwant:\n%s", got, localRefs)
	}
	if after := reads(t, mcpSession(t, n2), paths); after != before {
		t.Errorf("reads differ after restore:\n got %s\nwant %s", after, before)
	}
	if _, st2, _ := admin(t, "--data", data2, "status"); st2["audit_events"] != st["audit_events"] || st2["canon_head"] != st["canon_head"] {
		t.Errorf("status after restore %v, before %v", st2, st)
	}
	if got, _ := os.ReadFile(filepath.Join(data2, "totp.secret")); len(got) == 0 {
		t.Error("the TOTP secret was not restored")
	}

	// Mirror (O-mirror-1): the snapshot rides on refs/backup/audit, alone in its tree.
	remote := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", remote).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	for i := 1; i <= 2; i++ {
		code, m, stderr := admin(t, "--data", data2, "mirror", "--stage", t.TempDir(), remote)
		if code != 0 || m["git_sync_ok"] != true || !strings.Contains(fmt.Sprint(m["note"]), "NOT pushed") {
			t.Fatalf("mirror %d: %d %v %s", i, code, m, stderr)
		}
		tree, err := exec.Command("git", "--git-dir", remote, "ls-tree", "--name-only", "-r", "refs/backup/audit").Output()
		if err != nil || strings.TrimSpace(string(tree)) != "audit.sqlite" {
			t.Fatalf("refs/backup/audit tree %q %v", tree, err)
		}
		count, _ := exec.Command("git", "--git-dir", remote, "rev-list", "--count", "refs/backup/audit").Output()
		subj, _ := exec.Command("git", "--git-dir", remote, "log", "-1", "--format=%an|%s", "refs/backup/audit").Output()
		if strings.TrimSpace(string(count)) != fmt.Sprint(i) || !strings.HasPrefix(string(subj), fmt.Sprintf("backup|audit snapshot (%v events)", st["audit_events"])) {
			t.Errorf("mirror %d: %s commits, last %q", i, count, subj)
		}
	}
	if got := syncRefs(t, remote); got != syncRefs(t, n2.cfg.GitDir) {
		t.Errorf("mirror remote refs differ:\n%s", got)
	}
	refsList, _ := exec.Command("git", "--git-dir", remote, "for-each-ref", "--format=%(refname)").Output()
	if slices.Contains(strings.Fields(string(refsList)), "totp.secret") {
		t.Error("the secret travelled")
	}
}

// TestAdmin_MirrorNetworkTimeout is SC-21/O-net-1: the push runs under git_network_timeout;
// a remote that never answers fails the command with a message that names the url, says the
// push did NOT complete and suggests raising git_network_timeout. A refused connection names
// the url too (O-mirror-1).
func TestAdmin_MirrorNetworkTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts, then says nothing
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	data := t.TempDir()
	conf := filepath.Join(t.TempDir(), "stasima.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("git_dir = %q\ngit_network_timeout = 0.5\n", filepath.Join(data, "repo.git"))), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := admin(t, "--data", data, "--config", conf, "bootstrap", writeSeed(t)); code != 0 {
		t.Fatal(stderr) // mirror needs a deployment to mirror
	}
	silent := "http://" + ln.Addr().String() + "/x.git"
	code, _, stderr := admin(t, "--data", data, "--config", conf, "mirror", "--stage", t.TempDir(), silent)
	for _, want := range []string{silent, "did NOT complete", "git_network_timeout"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("mirror to a silent remote: exit %d, %q lacks %q", code, stderr, want)
		}
	}
	closed := "http://127.0.0.1:1/x.git"
	if code, _, stderr := admin(t, "--data", data, "--config", conf, "mirror", "--stage", t.TempDir(), closed); code != 1 || !strings.Contains(stderr, closed) {
		t.Errorf("mirror to a closed port: exit %d %q", code, stderr)
	}
}
