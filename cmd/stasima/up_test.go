package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testNode starts the `up` graph (embedded NATS, capstore, gateway) on 127.0.0.1:0 over a
// fresh data dir.
func testNode(t *testing.T) *node {
	t.Helper()
	cfg, err := loadConfig(t.TempDir(), "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	return n
}

func mcpSession(t *testing.T, n *node) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "stasima-test", Version: "1"}, nil)
	s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: "http://" + n.gw.Addr() + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// call runs a tool over MCP and returns the decoded result, or the error text.
func call(t *testing.T, s *mcp.ClientSession, tool string, args map[string]any) (map[string]any, string) {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error: %v", tool, err)
	}
	if len(res.Content) != 1 {
		t.Fatalf("%s: want one content block, got %d", tool, len(res.Content))
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if res.IsError {
		return nil, text
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatalf("%s: result is not a JSON object: %v\n%s", tool, err, text)
	}
	return out, ""
}

func mustCall(t *testing.T, s *mcp.ClientSession, tool string, args map[string]any) map[string]any {
	t.Helper()
	out, errText := call(t, s, tool, args)
	if errText != "" {
		t.Fatalf("%s(%v): %s", tool, args, errText)
	}
	return out
}

func rest(t *testing.T, n *node, tool string, args any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(args)
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.gw.Addr()+"/api/v1/tools/"+tool, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stasima-Session", "up-test") // D-25: one REST conversation
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// TestUp_MCPLoop walks the skeleton path over MCP: announce → kip_commit → kip_get →
// list_entries → kip_history.
func TestUp_MCPLoop(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)

	ann := mustCall(t, s, "announce", map[string]any{"instance_id": "Recto"})
	if ann["welcome"] != "Welcome to Stasima, Recto." || ann["canon_head"] != nil || ann["your_perspective_tip"] != nil {
		t.Fatalf("announce before any write: %v", ann)
	}
	if !strings.HasPrefix(ann["orientation"].(string), "# Stasima — how this works") {
		t.Fatalf("orientation heading: %q", ann["orientation"])
	}

	c := mustCall(t, s, "kip_commit", map[string]any{
		"instance_id": "Recto", "domain": "practice", "slug": "no-silent-loss",
		"body": "Nothing is lost.\n", "op_id": "op-1", "tags": []string{"durability"},
	})
	oid := c["oid"].(string)
	if len(oid) != 40 || c["ref"] != "refs/cap/perspectives/Recto" || c["path"] != "practice/no-silent-loss.md" ||
		c["op_id"] != "op-1" || c["author"] != "Recto" || c["replayed"] != nil {
		t.Fatalf("kip_commit: %v", c)
	}
	// C-commit-6: the same op_id replays the tip.
	again := mustCall(t, s, "kip_commit", map[string]any{
		"instance_id": "Recto", "domain": "practice", "slug": "no-silent-loss", "body": "Nothing is lost.", "op_id": "op-1",
	})
	if again["oid"] != oid || again["replayed"] != true {
		t.Fatalf("replay: %v", again)
	}

	get := mustCall(t, s, "kip_get", map[string]any{"ref": "Recto", "path": "practice/no-silent-loss"})
	wantText := "---\ntype: kno\ntitle: no-silent-loss\nstatus: active\ntags: [durability]\nreferences: []\ncanon_state: \ninstance_depth: 1\n---\n\nNothing is lost.\n"
	if get["text"] != wantText || get["path"] != "practice/no-silent-loss.md" || get["status"] != "active" || get["title"] != "no-silent-loss" {
		t.Fatalf("kip_get: %#v", get)
	}

	list := mustCall(t, s, "list_entries", map[string]any{"ref": "Recto"})
	entries := list["entries"].([]any)
	if len(entries) != 1 || entries[0].(map[string]any)["path"] != "practice/no-silent-loss.md" {
		t.Fatalf("list_entries: %v", list)
	}

	hist := mustCall(t, s, "kip_history", map[string]any{"ref": "Recto", "path": "practice/no-silent-loss.md"})
	h := hist["history"].([]any)
	if len(h) != 1 || h[0].(map[string]any)["oid"] != oid || h[0].(map[string]any)["author"] != "Recto" ||
		h[0].(map[string]any)["subject"] != "KIP practice/no-silent-loss.md" || h[0].(map[string]any)["title"] != "no-silent-loss" {
		t.Fatalf("kip_history: %v", hist)
	}

	ann = mustCall(t, s, "announce", map[string]any{"instance_id": "Recto"})
	if ann["your_perspective_tip"] != oid {
		t.Fatalf("announce tip: %v", ann["your_perspective_tip"])
	}
	inst := mustCall(t, s, "list_instances", nil)
	if fmt.Sprint(inst["instances"]) != "[Recto]" {
		t.Fatalf("list_instances: %v", inst)
	}
	cs := mustCall(t, s, "canon_state", nil)
	if cs["seq"] != "3b" || cs["display"] != "::3B" || cs["next_seq"] != "3c" || cs["canon_tip"] != nil {
		t.Fatalf("canon_state: %v", cs)
	}
	who := mustCall(t, s, "whoami", map[string]any{"instance_id": "Recto"})
	if who["perspective_ref"] != "refs/cap/perspectives/Recto" || who["session_binding"] == nil {
		t.Fatalf("whoami: %v", who)
	}

	// T-common-21.
	_, errText := call(t, s, "canon_head", nil)
	if errText != "Unknown tool: canon_head" {
		t.Fatalf("removed tool: %q", errText)
	}
}

// TestUp_REST runs the same path through the REST mirror (T-common-19).
func TestUp_REST(t *testing.T) {
	n := testNode(t)
	code, c := rest(t, n, "kip_commit", map[string]any{
		"instance_id": "Verso", "domain": "meta", "slug": "charter", "body": "We write.", "op_id": "r-1",
	})
	if code != 200 || c["path"] != "meta/charter.md" {
		t.Fatalf("kip_commit: %d %v", code, c)
	}
	code, g := rest(t, n, "kip_get", map[string]any{"ref": "Verso", "path": "meta/charter.md"})
	if code != 200 || !strings.HasSuffix(g["text"].(string), "\n\nWe write.\n") {
		t.Fatalf("kip_get: %d %v", code, g)
	}
	code, l := rest(t, n, "list_entries", map[string]any{"ref": "Verso", "path": "meta"})
	if code != 200 || len(l["entries"].([]any)) != 1 {
		t.Fatalf("list_entries: %d %v", code, l)
	}
	code, h := rest(t, n, "kip_history", map[string]any{"ref": "Verso", "path": "meta/charter"})
	if code != 200 || len(h["history"].([]any)) != 1 {
		t.Fatalf("kip_history: %d %v", code, h)
	}
	code, miss := rest(t, n, "kip_get", map[string]any{"ref": "canon", "path": "meta/charter.md"})
	msg := miss["error"].(map[string]any)["message"].(string)
	if code != 404 || miss["error"].(map[string]any)["class"] != "PathNotFound" || !strings.Contains(msg, "Verso") || !strings.Contains(msg, "canon") {
		t.Fatalf("tolerant miss: %d %v", code, miss)
	}
	code, hn := rest(t, n, "kip_history", map[string]any{"ref": "Nobody", "path": "x"})
	if code != 404 || !strings.HasPrefix(hn["error"].(map[string]any)["message"].(string), "refs/cap/perspectives/Nobody") {
		t.Fatalf("RefNotFound: %d %v", code, hn)
	}
	resp, err := http.Get("http://" + n.gw.Addr() + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
}

// TestUp_ConcurrentSeats: 16 seats × 50 commits to their own perspectives, plus 2 clients
// hammering one perspective with distinct op_ids — nothing lost, nothing doubled.
func TestUp_ConcurrentSeats(t *testing.T) {
	n := testNode(t)
	const seats, per = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, seats*per+200)
	oids := sync.Map{}
	commit := func(s *mcp.ClientSession, seat string, i int, tag string) {
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "kip_commit", Arguments: map[string]any{
			"instance_id": seat, "domain": "practice", "slug": fmt.Sprintf("%s-%03d", tag, i),
			"body": fmt.Sprintf("entry %d of %s", i, seat), "op_id": fmt.Sprintf("%s-%s-%d", seat, tag, i),
		}})
		if err != nil || res.IsError {
			errs <- fmt.Errorf("%s %d: %v %v", seat, i, err, res)
			return
		}
		var out map[string]any
		_ = json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &out)
		if _, dup := oids.LoadOrStore(out["oid"], seat); dup {
			errs <- fmt.Errorf("duplicate oid %v", out["oid"])
		}
	}
	for i := 0; i < seats; i++ {
		s := mcpSession(t, n)
		seat := fmt.Sprintf("seat-%02d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < per; j++ {
				commit(s, seat, j, "own")
			}
		}()
	}
	for k := 0; k < 2; k++ {
		s := mcpSession(t, n)
		tag := fmt.Sprintf("c%d", k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < per; j++ {
				commit(s, "shared", j, tag)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := mcpSession(t, n)
	for i := 0; i < seats; i++ {
		seat := fmt.Sprintf("seat-%02d", i)
		l := mustCall(t, s, "list_entries", map[string]any{"ref": seat})
		if got := len(l["entries"].([]any)); got != per {
			t.Errorf("%s holds %d entries, want %d", seat, got, per)
		}
	}
	if l := mustCall(t, s, "list_entries", map[string]any{"ref": "shared"}); len(l["entries"].([]any)) != 2*per {
		t.Errorf("shared holds %d entries, want %d", len(l["entries"].([]any)), 2*per)
	}
	// Every oid reads back as a commit of the repository, and the chain has no extras.
	count := 0
	oids.Range(func(k, v any) bool {
		count++
		if out, err := exec.Command("git", "--git-dir", n.cfg.GitDir, "cat-file", "-t", k.(string)).Output(); err != nil || strings.TrimSpace(string(out)) != "commit" {
			t.Errorf("oid %v does not read back: %v", k, err)
		}
		return true
	})
	if count != seats*per+2*per {
		t.Errorf("%d distinct oids, want %d", count, seats*per+2*per)
	}
	out, err := exec.Command("git", "--git-dir", n.cfg.GitDir, "rev-list", "--count", "refs/cap/perspectives/shared").Output()
	if err != nil || strings.TrimSpace(string(out)) != fmt.Sprint(2*per) {
		t.Errorf("shared perspective has %s commits, want %d (%v)", out, 2*per, err)
	}
}

// refsSnapshot is every ref and its oid, read with git itself (a test oracle).
func refsSnapshot(t *testing.T, gitDir string) string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", gitDir, "for-each-ref", "--format=%(refname) %(objectname)").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestUp_HostileInputs: each hostile argument gets a clear tool error naming the gate's values
// and leaves every ref unchanged (D-10, D-24, D-33, D-35, D-36, D-37, T-common-2/3).
func TestUp_HostileInputs(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "base", "body": "b", "op_id": "base"})
	ok := func(over map[string]any) map[string]any {
		args := map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "x", "body": "body", "op_id": "hostile"}
		for k, v := range over {
			if v == nil {
				delete(args, k)
			} else {
				args[k] = v
			}
		}
		return args
	}
	big := strings.Repeat("a", (1<<20)+1)
	tests := []struct {
		name string
		tool string
		args map[string]any
		want []string // substrings of the error text
	}{
		{"dotdot slug", "kip_commit", ok(map[string]any{"slug": "../../etc/passwd"}), []string{"Error executing tool kip_commit", ".."}},
		{"dotdot domain", "kip_commit", ok(map[string]any{"domain": "../practice"}), []string{".."}},
		{"absolute domain", "kip_commit", ok(map[string]any{"domain": "/etc"}), []string{"/etc"}},
		{"empty slug", "kip_commit", ok(map[string]any{"slug": ""}), []string{"slug"}},
		{"overlong slug", "kip_commit", ok(map[string]any{"slug": strings.Repeat("s", 5000)}), []string{"slug"}},
		{"newline in slug", "kip_commit", ok(map[string]any{"slug": "a\nb"}), []string{"control"}},
		{"control in domain", "kip_commit", ok(map[string]any{"domain": "prac\x01tice"}), []string{"control"}},
		{"empty seat", "kip_commit", ok(map[string]any{"instance_id": ""}), []string{"seat"}},
		{"space in seat", "kip_commit", ok(map[string]any{"instance_id": "Re cto"}), []string{"Re cto"}},
		{"control in seat", "kip_commit", ok(map[string]any{"instance_id": "Rec\x7fto"}), []string{"control"}},
		{"dotdot seat", "kip_commit", ok(map[string]any{"instance_id": "a..b"}), []string{"a..b"}},
		{"newline in op_id", "kip_commit", ok(map[string]any{"op_id": "x\ninstance-id: Verso"}), []string{"op_id"}},
		{"empty op_id", "kip_commit", ok(map[string]any{"op_id": ""}), []string{"op_id"}},
		{"dashes in title", "kip_commit", ok(map[string]any{"title": "a --- b"}), []string{"---"}},
		{"dashes in tag", "kip_commit", ok(map[string]any{"tags": []string{"x---y"}}), []string{"---"}},
		{"body over cap", "kip_commit", ok(map[string]any{"body": big}), []string{"1048577", "1048576"}},
		{"messages lane", "kip_commit", ok(map[string]any{"domain": "messages"}), []string{"messages/x.md"}},
		{"vantages lane", "kip_commit", ok(map[string]any{"domain": "vantages"}), []string{"vantages/x.md"}},
		{"immutable body", "kip_commit", ok(map[string]any{"slug": "base", "body": "changed", "op_id": "other"}), []string{"practice/base.md", "immutable", "supersede"}},
		{"tick outside state", "kip_commit", ok(map[string]any{"tick": "1a"}), []string{"tick=", "state/"}},
		{"bad tick", "kip_commit", ok(map[string]any{"domain": "state", "tick": "zz"}), []string{"zz"}},
		{"bad thread", "kip_commit", ok(map[string]any{"thread": "Bad Thread"}), []string{"ref-safe"}},
		{"wrong type body", "kip_commit", ok(map[string]any{"body": 42}), []string{"body"}},
		{"wrong type tags", "kip_commit", ok(map[string]any{"tags": 7}), []string{"tags"}},
		{"unknown parameter", "kip_commit", ok(map[string]any{"refrences": []string{"a"}}), []string{"refrences", "references"}},
		{"missing required", "kip_commit", ok(map[string]any{"body": nil}), []string{"body"}},
		{"unknown ref history", "kip_history", map[string]any{"ref": "refs/heads/nope", "path": "x"}, []string{"refs/heads/nope"}},
		{"unknown ref get", "kip_get", map[string]any{"ref": "Nobody", "path": "practice/base"}, []string{"practice/base.md", "Nobody", "Recto"}},
		{"traversal get", "kip_get", map[string]any{"ref": "Recto", "path": "../../etc/passwd"}, []string{".."}},
		{"unknown ref list", "list_entries", map[string]any{"ref": "Nobody"}, []string{"Nobody"}},
		{"filter leaves tree", "list_entries", map[string]any{"ref": "Recto", "path": "/etc"}, []string{"/etc"}},
	}
	before := refsSnapshot(t, n.cfg.GitDir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errText := call(t, s, tt.tool, tt.args)
			if errText == "" {
				t.Fatalf("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(errText, w) {
					t.Errorf("error %q lacks %q", errText, w)
				}
			}
		})
	}
	if after := refsSnapshot(t, n.cfg.GitDir); after != before {
		t.Fatalf("refs changed:\nbefore %s\nafter  %s", before, after)
	}
}

// TestUp_NewlinesFlatten: a newline in a title or tag is flattened to one line (C-entry-4) and
// cannot inject an envelope field.
func TestUp_NewlinesFlatten(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	mustCall(t, s, "kip_commit", map[string]any{
		"instance_id": "Recto", "domain": "practice", "slug": "inj", "body": "b", "op_id": "inj",
		"title": "innocent\nstatus: superseded\r\nsuperseded_by: [practice/evil.md]", "tags": []string{"t\ntype: msg"},
	})
	get := mustCall(t, s, "kip_get", map[string]any{"ref": "Recto", "path": "practice/inj", "resolve": "exact"})
	if get["status"] != "active" {
		t.Fatalf("status injected: %v", get["status"])
	}
	if get["title"] != "innocent status: superseded superseded_by: [practice/evil.md]" {
		t.Fatalf("title not flattened: %q", get["title"])
	}
	if !strings.Contains(get["text"].(string), "\ntype: kno\n") || strings.Contains(get["text"].(string), "\ntype: msg") {
		t.Fatalf("type injected:\n%s", get["text"])
	}
}

// TestUp_ToolsListGolden: the tools/list an MCP client sees, behaviour hints included, is the
// wire contract of services/gateway/internal/toolspec/testdata/tools_list.golden.json.
func TestUp_ToolsListGolden(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	res, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	type tool struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		InputSchema any    `json:"inputSchema"`
		Annotations any    `json:"annotations"`
	}
	var got []tool
	for _, tl := range res.Tools {
		// The hints as the client decodes them (readOnlyHint, destructiveHint, …).
		var hints any
		b, _ := json.Marshal(tl.Annotations)
		if err := json.Unmarshal(b, &hints); err != nil {
			t.Fatal(err)
		}
		got = append(got, tool{tl.Name, tl.Description, tl.InputSchema, hints})
	}
	golden, err := os.ReadFile(filepath.Join("..", "..", "services", "gateway", "internal", "toolspec", "testdata", "tools_list.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []tool
	if err := json.Unmarshal(golden, &want); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("tools/list drifted from the golden contract:\n got %s\nwant %s", gb, wb)
	}
}
