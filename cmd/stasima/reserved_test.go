package main

import (
	"strings"
	"testing"
)

// D-39 end to end: an agent session claiming practitioner or system is refused naming
// C-names-3 and writes nothing; a gateway pinned to practitioner (the practitioner's own server
// definition) may act as it.
func TestUp_ReservedNames(t *testing.T) {
	open := startBound(t, t.TempDir(), bindEnv{})
	s := mcpSession(t, open)
	mustCall(t, s, "imp_send", map[string]any{"instance_id": "Recto", "recipients": []string{"practitioner"}, "subject": "land?", "body": "b", "op_id": "m1"})
	inbox := mustCall(t, s, "imp_check", map[string]any{"instance_id": "practitioner"})["messages"].([]any)
	if len(inbox) != 1 {
		t.Fatalf("practitioner's inbox: %v", inbox)
	}
	path := inbox[0].(map[string]any)["path"].(string)
	before := refsSnapshot(t, open.cfg.GitDir)
	for _, claim := range []struct {
		tool string
		args map[string]any
	}{
		{"imp_mark_read", map[string]any{"instance_id": "practitioner", "message_path": path}},
		{"imp_send", map[string]any{"instance_id": "practitioner", "recipients": []string{"Verso"}, "subject": "from the practitioner", "body": "b", "op_id": "m2"}},
		{"kip_commit", map[string]any{"instance_id": "system", "domain": "d", "slug": "s", "body": "b", "op_id": "k1"}},
		{"propose_close", map[string]any{"instance_id": "Practitioner", "proposal_id": "p", "reason": "r", "op_id": "c1"}},
	} {
		_, errText := call(t, s, claim.tool, claim.args)
		if !strings.Contains(errText, "C-names-3") {
			t.Errorf("%s claiming %v: %q, want a refusal naming C-names-3", claim.tool, claim.args["instance_id"], errText)
		}
	}
	if after := refsSnapshot(t, open.cfg.GitDir); after != before {
		t.Fatalf("refused claims moved refs:\nbefore %s\nafter  %s", before, after)
	}
	if n := len(mustCall(t, s, "imp_check", map[string]any{"instance_id": "practitioner"})["messages"].([]any)); n != 1 {
		t.Fatalf("the practitioner's message was marked read by an agent session (%d unread)", n)
	}
	open.stop(t.Context())

	pinned := startBound(t, open.cfg.DataDir, bindEnv{instance: "practitioner"})
	defer pinned.stop(t.Context())
	ps := mcpSession(t, pinned)
	mustCall(t, ps, "imp_mark_read", map[string]any{"instance_id": "practitioner", "message_path": path})
	if n := len(mustCall(t, ps, "imp_check", map[string]any{"instance_id": "practitioner"})["messages"].([]any)); n != 0 {
		t.Fatalf("the pinned gateway's read receipt left %d unread", n)
	}
}
