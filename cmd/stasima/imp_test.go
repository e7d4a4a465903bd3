package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// flagsOf reads imp_flags for one seat as (unread, from).
func flagsOf(t *testing.T, s *mcp.ClientSession, seat string) (int, string) {
	t.Helper()
	f := mustCall(t, s, "imp_flags", map[string]any{"instance_id": seat})
	return int(f["unread"].(float64)), fmt.Sprint(f["from"])
}

// inboxOf reads the flat inbox (unread_only=false) as path → superseded_by.
func inboxOf(t *testing.T, s *mcp.ClientSession, seat string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range mustCall(t, s, "imp_check", map[string]any{"instance_id": seat, "unread_only": false})["messages"].([]any) {
		m := m.(map[string]any)
		out[m["path"].(string)] = m["superseded_by"].(string)
	}
	return out
}

// verbCount is perf_scry's n for one verb (T-perf_scry-1).
func verbCount(t *testing.T, s *mcp.ClientSession, verb string) int {
	t.Helper()
	v, _ := mustCall(t, s, "perf_scry", nil)["by_verb"].(map[string]any)[verb].(map[string]any)
	if v == nil {
		return 0
	}
	return int(v["n"].(float64))
}

// TestUp_Messages is SC-8 (S-40…S-44, T-imp_*, T-imp_flags-2, T-perf_scry-2, I-40).
func TestUp_Messages(t *testing.T) {
	n := testNode(t)
	// One session per seat: every write is binding-checked (I-10…I-16); reads are not.
	s, sv, st := mcpSession(t, n), mcpSession(t, n), mcpSession(t, n)

	// Multi-recipient send (T-imp_send-5: recipients verbatim; path messages/<op_id>.md).
	sent := mustCall(t, s, "imp_send", map[string]any{"instance_id": "Recto", "recipients": []string{"Verso", "Tertia"},
		"subject": "pack\nthe looms", "body": "Bring the warp.", "op_id": "m1", "coordinates": []string{"practice/weaving.md"}})
	if sent["path"] != "messages/m1.md" || sent["from"] != "Recto" || fmt.Sprint(sent["recipients"]) != "[Verso Tertia]" || sent["oid"] == "" {
		t.Fatalf("imp_send: %v", sent)
	}
	if again := mustCall(t, s, "imp_send", map[string]any{"instance_id": "Recto", "recipients": []string{"Verso", "Tertia"},
		"subject": "pack\nthe looms", "body": "Bring the warp.", "op_id": "m1"}); again["oid"] != sent["oid"] || again["replayed"] != nil {
		t.Fatalf("tip-local replay is unflagged and writes nothing (§12): %v", again)
	}
	chk := mustCall(t, s, "imp_check", map[string]any{"instance_id": "Verso"})["messages"].([]any)
	if len(chk) != 1 {
		t.Fatalf("imp_check(Verso): %v", chk)
	}
	m := chk[0].(map[string]any)
	if m["path"] != "messages/m1.md" || m["from"] != "Recto" || m["subject"] != "pack the looms" || m["ref"] != "refs/cap/perspectives/Recto" ||
		fmt.Sprint(m["coordinates"]) != "[practice/weaving.md]" || m["superseded_by"] != "" {
		t.Fatalf("inbox item (S-41): %v", m)
	}

	// Flags 1 then 0 after read; the second recipient is unaffected (S-43, U-16).
	if u, from := flagsOf(t, s, "Verso"); u != 1 || from != "[Recto]" {
		t.Fatalf("imp_flags(Verso) before read: %d %s", u, from)
	}
	if r := mustCall(t, sv, "imp_mark_read", map[string]any{"instance_id": "Verso", "message_path": "messages/m1.md"}); r["marked_read"] != "messages/m1.md" {
		t.Fatalf("imp_mark_read: %v", r)
	}
	if u, _ := flagsOf(t, s, "Verso"); u != 0 {
		t.Fatalf("imp_flags(Verso) after read: %d", u)
	}
	if got := mustCall(t, s, "imp_check", map[string]any{"instance_id": "Verso"})["messages"].([]any); len(got) != 0 {
		t.Fatalf("unread_only drops read messages: %v", got)
	}
	if u, from := flagsOf(t, s, "Tertia"); u != 1 || from != "[Recto]" {
		t.Fatalf("second recipient unaffected: %d %s", u, from)
	}

	// A superseding reply tombstones (flat: both stay visible); supersedes is normalized.
	mustCall(t, s, "imp_send", map[string]any{"instance_id": "Recto", "recipients": []string{"Tertia"}, "subject": "correction",
		"body": "Bring the weft too.", "op_id": "m2", "supersedes": []string{"messages/m1"}})
	if in := inboxOf(t, s, "Tertia"); len(in) != 2 || in["messages/m1.md"] != "messages/m2.md" || in["messages/m2.md"] != "" {
		t.Fatalf("tombstone (S-41): %v", in)
	}
	if u, from := flagsOf(t, s, "Tertia"); u != 1 || from != "[Recto]" {
		t.Fatalf("frontier after the tombstone: %d %s", u, from)
	}
	// Another sender's supersedes is ignored: no sender tombstones another's message.
	mustCall(t, sv, "imp_send", map[string]any{"sender": "Verso", "recipients": []string{"Tertia"}, "subject": "not yours",
		"body": "I retire nothing of Recto's.", "op_id": "v1", "supersedes": []string{"messages/m2.md"}})
	if in := inboxOf(t, s, "Tertia"); in["messages/m2.md"] != "" {
		t.Fatalf("foreign supersedes honoured: %v", in)
	}
	if u, from := flagsOf(t, s, "Tertia"); u != 2 || from != "[Recto Verso]" {
		t.Fatalf("frontier with a foreign edge: %d %s", u, from)
	}

	// Roster flags: every perspective, zero-unread seats included, one perspective listing.
	mustCall(t, st, "imp_send", map[string]any{"instance_id": "Tertia", "recipients": []string{"Recto"}, "subject": "ack", "body": "Got it.", "op_id": "t1"})
	before := verbCount(t, s, "for-each-ref")
	roster := mustCall(t, s, "imp_flags", nil)
	if d := verbCount(t, s, "for-each-ref") - before; d != 1 {
		t.Fatalf("roster imp_flags cost %d for-each-ref, want exactly 1 (T-perf_scry-2)", d)
	}
	seats := roster["seats"].(map[string]any)
	if roster["roster"] != 3.0 || fmt.Sprint(seats["Recto"]) != "map[from:[Tertia] unread:1]" ||
		fmt.Sprint(seats["Tertia"]) != "map[from:[Recto Verso] unread:2]" || fmt.Sprint(seats["Verso"]) != "map[from:[] unread:0]" {
		t.Fatalf("roster imp_flags: %v", roster)
	}

	// A reindex preserves read state (audit) and tombstones (git).
	if code, _, stderr := admin(t, "--data", n.cfg.DataDir, "reindex"); code != 0 {
		t.Fatalf("reindex: %s", stderr)
	}
	if u, _ := flagsOf(t, s, "Verso"); u != 0 {
		t.Fatalf("read state lost by reindex: %d", u)
	}
	if in := inboxOf(t, s, "Tertia"); in["messages/m1.md"] != "messages/m2.md" {
		t.Fatalf("tombstone lost by reindex: %v", in)
	}

	// kip_commit into messages/ is denied and audited (T-kip_commit-2, I-40).
	if _, e := call(t, s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "messages", "slug": "forged",
		"body": "x", "op_id": "k1"}); !strings.Contains(e, "messages/forged.md") {
		t.Fatalf("kip_commit into messages/: %q", e)
	}
	rows := auditRows(t, n, "kip_commit")
	if len(rows) != 1 || *rows[0].Outcome != "denied" || *rows[0].TargetPath != "messages/forged.md" {
		t.Fatalf("lane denial row: %+v", rows)
	}

	// T-imp_send-8: one imp_send row per send, replays included (§12).
	sends := auditRows(t, n, "imp_send")
	if len(sends) != 5 || !strings.Contains(string(sends[0].Detail), `"recipients":["Verso","Tertia"]`) {
		t.Fatalf("imp_send rows: %d %s", len(sends), sends[0].Detail)
	}
	if receipts := auditRows(t, n, "read_receipt"); len(receipts) != 1 || *receipts[0].Actor != "Verso" {
		t.Fatalf("read_receipt rows: %+v", receipts)
	}
}

// TestUp_ImpSendIdentityTwin is T-imp_send-1: instance_id or its deprecated twin sender,
// exactly one; no audit row for a refusal.
func TestUp_ImpSendIdentityTwin(t *testing.T) {
	n := testNode(t)
	base := func(kv ...any) map[string]any {
		a := map[string]any{"recipients": []string{"Verso"}, "subject": "s", "body": "b", "op_id": fmt.Sprint("tw-", kv)}
		for i := 0; i+1 < len(kv); i += 2 {
			a[kv[i].(string)] = kv[i+1]
		}
		return a
	}
	tests := []struct {
		name     string
		give     map[string]any
		wantErr  string
		wantFrom string
	}{
		{"neither", base(), "Exactly one", ""},
		{"both differ", base("instance_id", "Recto", "sender", "Verso"), "Exactly one", ""},
		{"both agree", base("instance_id", "Recto", "sender", "Recto"), "", "Recto"},
		{"sender only", base("sender", "Tertia"), "", "Tertia"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, e := call(t, mcpSession(t, n), "imp_send", tt.give)
			if tt.wantErr != "" {
				if !strings.Contains(e, tt.wantErr) {
					t.Fatalf("want %q, got %q", tt.wantErr, e)
				}
				return
			}
			if e != "" || out["from"] != tt.wantFrom {
				t.Fatalf("got %v %q", out, e)
			}
		})
	}
	if rows := auditRows(t, n, "imp_send"); len(rows) != 2 {
		t.Fatalf("refusals write no row: %d rows", len(rows))
	}
}

// TestUp_AdminInbox is O-inbox-1/2 and T-common-20: practitioner_attention counts unread
// practitioner mail; `admin inbox --read` clears it.
func TestUp_AdminInbox(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	attention := func() float64 {
		return mustCall(t, s, "announce", map[string]any{"instance_id": "Recto"})["practitioner_attention"].(float64)
	}
	if a := attention(); a != 0 {
		t.Fatalf("attention with no mail: %v", a)
	}
	mustCall(t, s, "imp_send", map[string]any{"instance_id": "Recto", "recipients": []string{"practitioner"}, "subject": "please land",
		"body": "p-1 is ready.", "op_id": "to-prac", "coordinates": []string{"practice/a.md"}})
	if a := attention(); a != 1 {
		t.Fatalf("attention after a message: %v", a)
	}
	if cs := mustCall(t, s, "canon_state", nil); cs["practitioner_attention"] != 1.0 {
		t.Fatalf("canon_state attention: %v", cs["practitioner_attention"])
	}
	data := n.cfg.DataDir
	if code, st, stderr := admin(t, "--data", data, "status"); code != 0 || st["practitioner_unread"] != 1.0 {
		t.Fatalf("status practitioner_unread (O-status-1): %v %s", st, stderr)
	}
	code, res, stderr := admin(t, "--data", data, "inbox")
	if code != 0 {
		t.Fatal(stderr)
	}
	unread := res["unread"].([]any)
	if len(unread) != 1 || fmt.Sprint(unread[0]) != "map[coordinates:[practice/a.md] from:Recto path:messages/to-prac.md subject:please land]" ||
		!strings.Contains(res["note"].(string), "--read") {
		t.Fatalf("inbox: %v", res)
	}
	if code, res, stderr := admin(t, "--data", data, "inbox", "--read", "messages/to-prac.md"); code != 0 || res["marked_read"] != "messages/to-prac.md" {
		t.Fatalf("inbox --read: %v %s", res, stderr)
	}
	if a := attention(); a != 0 {
		t.Fatalf("attention after inbox --read: %v", a)
	}
	if _, res, _ := admin(t, "--data", data, "inbox"); len(res["unread"].([]any)) != 0 {
		t.Fatalf("inbox after read: %v", res)
	}
	if _, res, _ := admin(t, "--data", data, "inbox", "--all"); len(res["all"].([]any)) != 1 {
		t.Fatalf("inbox --all: %v", res)
	}
	if code, _, _ := admin(t, "--data", data, "inbox", "--bogus"); code != 2 {
		t.Fatalf("usage error exit: %d", code)
	}
	rows := auditRows(t, n, "read_receipt")
	if len(rows) != 1 || *rows[0].Actor != "practitioner" || *rows[0].TargetPath != "messages/to-prac.md" {
		t.Fatalf("receipt row: %+v", rows)
	}
}
