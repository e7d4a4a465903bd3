package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestServe_Deployment015OpenAndContinue opens a Stasima 0.1.5 deployment as it is — config
// pointed at its bare repository, its audit.sqlite and its map_index.sqlite, search_mode
// "embedding" (0.1.5's exact ranking; hybrid adds "matched") — and serves it: every read of
// expected.json answers as 0.1.5 answered (the orientation's redacted preamble aside, and the
// reads listed under reads_after_reindex_differences may take their after-reindex form), the
// chain verifies to the recorded head and anchor, and new writes continue the same chain (the
// first new row links to 0.1.5's head) and verify again, anchor included.
func TestServe_Deployment015OpenAndContinue(t *testing.T) {
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
	body := fmt.Sprintf("git_dir = %q\naudit_db = %q\nmap_db = %q\ndeployment_name = \"Fixture Practice\"\napprovers = [\"practitioner\"]\nembed_backend = \"stub\"\nsearch_mode = \"embedding\"\n",
		filepath.Join(dep, "stasima.git"), filepath.Join(dep, "audit.sqlite"), filepath.Join(dep, "map_index.sqlite"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	cfg, err := loadUpConfig(data, conf, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })

	// The refs are 0.1.5's, untouched by opening.
	for ref, oid := range exp.Refs {
		if got := gitRev015(t, cfg.GitDir, ref); got != oid {
			t.Errorf("%s = %s, 0.1.5 left %s", ref, got, oid)
		}
	}
	if code, v, stderr := admin(t, "--data", data, "verify"); code != 0 || v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
		t.Fatalf("verify the 0.1.5 log while served: %d %v %s", code, v, stderr)
	}

	afterReindex := map[int]string{}
	for _, d := range exp.ReindexDifferences {
		afterReindex[d.ReadIndex] = canonical015(d.Result)
	}
	// Reads are answered per seat from the seat's own session, as 0.1.5's one server per seat.
	sessions := map[string]*seatSession015{}
	session := func(args map[string]any) *seatSession015 {
		seat, _ := args["instance_id"].(string)
		if sessions[seat] == nil {
			sessions[seat] = &seatSession015{mcpSession(t, n)}
		}
		return sessions[seat]
	}
	for i, r := range exp.Reads {
		got, errText := call(t, session(r.Args).s, r.Tool, r.Args)
		if errText != "" {
			t.Errorf("read %d %s(%v): %s", i, r.Tool, r.Args, errText)
			continue
		}
		var want map[string]any
		_ = json.Unmarshal(r.Result, &want)
		if r.Tool == "announce" {
			sameOrientation(t, i, got, want)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if g := string(gb); g != string(wb) && g != afterReindex[i] {
			t.Errorf("read %d %s(%v):\n got %s\nwant %s", i, r.Tool, r.Args, gb, wb)
		}
	}

	// New writes continue the same chain.
	s := mcpSession(t, n)
	mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Quarta", "domain": "practice", "slug": "after-the-move",
		"body": "written by the Go server onto a 0.1.5 deployment", "op_id": "go-first"})
	rows := auditRows(t, n, "")
	if len(rows) <= exp.Audit.Count {
		t.Fatalf("%d rows after a write, 0.1.5 left %d", len(rows), exp.Audit.Count)
	}
	if r := rows[exp.Audit.Count-1]; r.Seq != int64(exp.Audit.Count) || r.Hash != exp.Audit.Head {
		t.Fatalf("row %d is not 0.1.5's head: %+v", exp.Audit.Count, r)
	}
	if r := rows[exp.Audit.Count]; r.Seq != int64(exp.Audit.Count+1) || r.PrevHash != exp.Audit.Head {
		t.Fatalf("the first Go row does not link to 0.1.5's head %s: %+v", exp.Audit.Head, r)
	}
	// O-anchor-1 names the result {anchored: {seq, head}}; the command answers {seq, head}.
	if code, v, _ := admin(t, "--data", data, "anchor"); code != 0 || v["anchored"] == nil && v["head"] == nil {
		t.Fatalf("anchor: %v", v)
	}
	if code, v, stderr := admin(t, "--data", data, "verify"); code != 0 || v["audit_verify_ok"] != true || v["audit_vs_anchor"] != true {
		t.Fatalf("verify after new writes: %d %v %s", code, v, stderr)
	}
}

type seatSession015 struct{ s *mcp.ClientSession }

func canonical015(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// gitRev015 resolves a ref with git itself (the oracle).
func gitRev015(t *testing.T, gitDir, ref string) string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", gitDir, "rev-parse", "--verify", "-q", ref).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
