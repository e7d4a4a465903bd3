package app

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/services/gateway/internal/toolspec"
)

// claimArgs are valid arguments for each identity-claiming tool (T-common-9) but the claimed
// name, which the test fills in.
var claimArgs = map[string]map[string]any{
	"kip_commit":      {"domain": "d", "slug": "s", "body": "b", "op_id": "op-1"},
	"propose":         {"proposal_id": "p1", "domain": "meta/log", "slug": "3c", "body": "b", "op_id": "op-1", "type": "log", "seq": "3c"},
	"propose_retract": {"proposal_id": "p1", "path": "d/s.md", "op_id": "op-1"},
	"propose_close":   {"proposal_id": "p1", "reason": "r", "op_id": "op-1"},
	"imp_send":        {"recipients": []string{"Recto"}, "subject": "s", "body": "b", "op_id": "op-1"},
	"imp_mark_read":   {"message_path": "messages/m.md"},
	"vap_record":      {"binds": "d/s.md", "horizon": "h", "op_id": "op-1", "kind": "reconstructed"},
	"canon_diff":      {},
	"sup_reconcile":   {"body": "b"},
}

// D-39: the reserved actor names (C-names-3) and the configured approvers, in any casing, are
// refused on every identity-claiming tool in every binding mode and on both transports, before
// anything reaches the backend (the app here has none: a call that got further would panic);
// imp_send refuses them as sender too.
func TestReservedNames_RefusedOnEveryIdentityTool(t *testing.T) {
	if got := slices.Sorted(maps.Keys(claimArgs)); !slices.Equal(got, slices.Sorted(maps.Keys(identityTools))) {
		t.Fatalf("claimArgs covers %v, identityTools are %v", got, slices.Sorted(maps.Keys(identityTools)))
	}
	claimed := []string{"practitioner", "Practitioner", "system", "SYSTEM", "backup", "capstore", "scribe", "Zoe", "zoe"}
	for _, mode := range []string{"strict", "witness", "off"} {
		a := newTestApp(Config{BindingMode: mode, Approvers: []string{"practitioner", "zoe"}})
		for tool, base := range claimArgs {
			for _, name := range claimed {
				for _, sess := range []Session{{Transport: "mcp", Key: "mcp:1", ID: SessionTag("mcp:1")}, {Transport: "rest", Key: "rest:t", ID: SessionTag("rest:t")}} {
					args := maps.Clone(base)
					field := "instance_id"
					if tool == "imp_send" && name == "scribe" {
						field = "sender" // the deprecated twin claims just the same
					}
					args[field] = name
					committer := "capstore"
					if name == "scribe" {
						committer = "scribe"
					}
					a.cfg.Committer = committer
					err := call(t, a, tool, args, sess)
					if fault.ClassOf(err) != fault.Denied || !strings.Contains(err.Error(), "C-names-3") || !strings.Contains(err.Error(), `"`+name+`"`) {
						t.Fatalf("%s %s claiming %q over %s: %v, want Denied naming C-names-3 and the name", mode, tool, name, sess.Transport, err)
					}
				}
			}
		}
	}
}

// D-39's one exception: a gateway pinned to the reserved name (the practitioner's own server
// definition) may claim exactly that name; others stay refused on it.
func TestReservedNames_PinnedGatewayMay(t *testing.T) {
	ctx := context.Background()
	s := Session{Transport: "mcp", Key: "mcp:1", ID: SessionTag("mcp:1")}
	for _, mode := range []string{"strict", "witness", "off"} {
		a := newTestApp(Config{BindingMode: mode, PinnedInstance: "practitioner", Approvers: []string{"practitioner", "zoe"}})
		for tool := range identityTools {
			if _, err := a.bindCheck(ctx, s, tool, "practitioner", "", ""); err != nil {
				t.Fatalf("%s pinned %s: %v", mode, tool, err)
			}
			if _, err := a.bindCheck(ctx, s, tool, "zoe", "", ""); fault.ClassOf(err) != fault.Denied || !strings.Contains(err.Error(), "C-names-3") {
				t.Fatalf("%s pinned to practitioner, %s claiming another approver: %v", mode, tool, err)
			}
		}
	}
	// An ordinary name is unaffected, pinned or not.
	if _, err := newTestApp(Config{BindingMode: "off"}).bindCheck(ctx, s, "kip_commit", "Recto", "", ""); err != nil {
		t.Fatal(err)
	}
}

func call(t *testing.T, a *App, tool string, args map[string]any, s Session) error {
	t.Helper()
	spec, _ := toolspec.Lookup(tool)
	raw, _ := json.Marshal(args)
	decoded, err := spec.Decode(raw)
	if err != nil {
		t.Fatalf("%s args %s: %v", tool, raw, err)
	}
	_, err = a.Call(context.Background(), tool, decoded, s)
	return err
}
