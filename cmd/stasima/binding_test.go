package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/services/gateway"
)

// bindEnv is the server definition of one gateway under test: its binding env (identity.md
// I-1, I-3). Blank values are unset (I-4).
type bindEnv struct {
	instance, port, mode string
}

// startBound starts the up graph over data with the binding of env; the caller stops it.
func startBound(t *testing.T, data string, env bindEnv) *node {
	t.Helper()
	t.Setenv("STASIMA_INSTANCE", env.instance)
	t.Setenv("STASIMA_PORT", env.port)
	cfg, err := loadConfig(data, "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.BindingMode = env.mode
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func boundNode(t *testing.T, env bindEnv) *node {
	t.Helper()
	n := startBound(t, t.TempDir(), env)
	t.Cleanup(func() { n.stop(context.Background()) })
	return n
}

func closeAll(ss ...*mcp.ClientSession) {
	for _, s := range ss {
		s.Close()
	}
}

// tagOf is I-30's session tag of a binding key.
func tagOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "s" + hex.EncodeToString(sum[:3])
}

func detailOf(t *testing.T, r schema.AuditRow) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(r.Detail, &d); err != nil {
		t.Fatalf("detail %s: %v", r.Detail, err)
	}
	return d
}

// rowsWhere returns the rows of op with the given outcome ("" = any).
func rowsWhere(t *testing.T, n *node, op, outcome string) []schema.AuditRow {
	t.Helper()
	var out []schema.AuditRow
	for _, r := range auditRows(t, n, op) {
		if outcome == "" || str(r.Outcome) == outcome {
			out = append(out, r)
		}
	}
	return out
}

func entryArgs(seat, slug string) map[string]any {
	return map[string]any{"instance_id": seat, "domain": "practice", "slug": slug, "body": "by " + seat, "op_id": seat + "-" + slug}
}

func binding(t *testing.T, s *mcp.ClientSession, seat string) map[string]any {
	t.Helper()
	return mustCall(t, s, "whoami", map[string]any{"instance_id": seat})["session_binding"].(map[string]any)
}

func wantBlock(t *testing.T, got map[string]any, want string) {
	t.Helper()
	b, _ := json.Marshal(got)
	var w map[string]any
	_ = json.Unmarshal([]byte(want), &w)
	wb, _ := json.Marshal(w)
	if string(b) != string(wb) {
		t.Fatalf("session_binding = %s\nwant %s", b, wb)
	}
}

func mustContain(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Fatalf("%q\ndoes not contain %q", text, w)
		}
	}
}

// TestBinding_SC11 is SC-11: every binding source × mode, end to end over real MCP sessions.
func TestBinding_SC11(t *testing.T) {
	t.Run("pinned strict", func(t *testing.T) { // I-11, I-13, I-15, I-17, I-18
		n := boundNode(t, bindEnv{instance: "Verso"})
		spawn := rowsWhere(t, n, "session_binding", "")
		if len(spawn) != 1 || str(spawn[0].Actor) != "Verso" || string(spawn[0].Detail) != `{"mode":"strict","source":"pinned"}` {
			t.Fatalf("pinned spawn row (untagged, I-18): %+v", spawn)
		}
		s := mcpSession(t, n)
		wantBlock(t, binding(t, s, "Verso"), `{"mode":"strict","bound_instance":"Verso","source":"pinned","match":true}`)
		wantBlock(t, binding(t, s, "Recto"), `{"mode":"strict","bound_instance":"Verso","source":"pinned","match":false}`)
		mustCall(t, s, "kip_commit", entryArgs("Verso", "a"))
		_, e := call(t, s, "kip_commit", entryArgs("Recto", "b"))
		mustContain(t, e, "pinned to 'Verso'", "(strict)", "'Recto'", "server-owned", "no in-call override", "witness", "--clear")
		b1 := rowsWhere(t, n, "kip_commit", "denied")
		if len(b1) != 1 || str(b1[0].Actor) != "Recto" || str(b1[0].TargetRef) != "refs/cap/perspectives/Recto" || str(b1[0].TargetPath) != "practice/b.md" {
			t.Fatalf("row B1: %+v", b1)
		}
		if d := detailOf(t, b1[0]); d["reason"] != "session-binding mismatch" || d["bound"] != "Verso" || d["session"] == nil {
			t.Fatalf("row B1 detail: %v", d)
		}
		if len(rowsWhere(t, n, "session_binding", "")) != 1 {
			t.Fatal("a pinned gateway learned")
		}
		// The imp_send identity twin: either form binds; a forged sender is refused like
		// instance_id; the conflicting pair never reaches binding (T-imp_send-1).
		msg := func(k, v, op string) map[string]any {
			return map[string]any{k: v, "recipients": []string{"Recto"}, "subject": "s", "body": "b", "op_id": op}
		}
		mustCall(t, s, "imp_send", msg("instance_id", "Verso", "m-1"))
		mustCall(t, s, "imp_send", msg("sender", "Verso", "m-2"))
		_, e = call(t, s, "imp_send", msg("sender", "Recto", "m-3"))
		mustContain(t, e, "pinned to 'Verso'", "'Recto'")
		pair := msg("sender", "Recto", "m-4")
		pair["instance_id"] = "Verso"
		_, e = call(t, s, "imp_send", pair)
		mustContain(t, e, "Exactly one")
		// Every MCP session of a pinned gateway is bound from the start.
		_, e = call(t, mcpSession(t, n), "canon_diff", map[string]any{"instance_id": "Recto"})
		mustContain(t, e, "pinned to 'Verso'")
	})

	t.Run("pinned witness", func(t *testing.T) { // I-16, C-env-3
		n := boundNode(t, bindEnv{instance: "Verso", mode: "witness"})
		s := mcpSession(t, n)
		mustCall(t, s, "kip_commit", entryArgs("Recto", "w"))
		got := mustCall(t, s, "kip_get", map[string]any{"ref": "Recto", "path": "practice/w.md"})
		mustContain(t, got["text"].(string), "authored_via: Verso\n")
		b2 := rowsWhere(t, n, "kip_commit", "witness")
		if len(b2) != 1 || str(b2[0].Actor) != "Recto" {
			t.Fatalf("row B2: %+v", b2)
		}
		if d := detailOf(t, b2[0]); d["bound"] != "Verso" || d["session"] == nil {
			t.Fatalf("row B2 detail: %v", d)
		}
		// A matching write carries no stamp; an op without an envelope still leaves B2.
		mustCall(t, s, "kip_commit", entryArgs("Verso", "own"))
		if txt := mustCall(t, s, "kip_get", map[string]any{"ref": "Verso", "path": "practice/own.md"})["text"].(string); strings.Contains(txt, "authored_via") {
			t.Fatalf("matching write stamped: %s", txt)
		}
		mustCall(t, s, "canon_diff", map[string]any{"instance_id": "Recto"})
		if len(rowsWhere(t, n, "canon_diff", "witness")) != 1 {
			t.Fatal("canon_diff mismatch in witness left no row")
		}
	})

	t.Run("sticky default", func(t *testing.T) { // I-12, I-13, I-15, I-5
		n := boundNode(t, bindEnv{})
		s := mcpSession(t, n)
		wantBlock(t, binding(t, s, "Recto"), `{"mode":"strict","bound_instance":null,"source":null,"match":null}`)
		mustCall(t, s, "kip_commit", entryArgs("Recto", "a"))
		learnedRows := rowsWhere(t, n, "session_binding", "ok")
		if len(learnedRows) != 1 || str(learnedRows[0].Actor) != "Recto" {
			t.Fatalf("learn row: %+v", learnedRows)
		}
		d := detailOf(t, learnedRows[0])
		if d["mode"] != "strict" || d["source"] != "session" || d["learned"] != true || d["port"] != nil || !strings.HasPrefix(d["session"].(string), "s") {
			t.Fatalf("learn row detail: %s", learnedRows[0].Detail)
		}
		wantBlock(t, binding(t, s, "Recto"), `{"mode":"strict","bound_instance":"Recto","source":"session","match":true}`)
		_, e := call(t, s, "kip_commit", entryArgs("Verso", "b"))
		mustContain(t, e, "learned (sticky) as 'Recto'", "(strict)", "'Verso'", "server-owned")
		_, e = call(t, s, "propose", map[string]any{"instance_id": "Verso", "proposal_id": "p1", "domain": "practice", "slug": "x", "body": "x", "op_id": "p1-x"})
		mustContain(t, e, "learned (sticky) as 'Recto'")
		// SC-18: a second session on the same gateway binds its own seat.
		s2 := mcpSession(t, n)
		mustCall(t, s2, "kip_commit", entryArgs("Verso", "c"))
		_, e = call(t, s2, "kip_commit", entryArgs("Recto", "d"))
		mustContain(t, e, "learned (sticky) as 'Verso'")
		mustCall(t, s, "kip_commit", entryArgs("Recto", "e"))
	})

	t.Run("off", func(t *testing.T) { // I-10, I-2
		n := boundNode(t, bindEnv{mode: "off"})
		s := mcpSession(t, n)
		mustCall(t, s, "kip_commit", entryArgs("Recto", "a"))
		mustCall(t, s, "kip_commit", entryArgs("Verso", "b"))
		if txt := mustCall(t, s, "kip_get", map[string]any{"ref": "Verso", "path": "practice/b.md"})["text"].(string); strings.Contains(txt, "authored_via") {
			t.Fatalf("off stamped: %s", txt)
		}
		for _, op := range []string{"session_binding", "port_binding"} {
			if r := auditRows(t, n, op); len(r) != 0 {
				t.Fatalf("off wrote %s rows: %+v", op, r)
			}
		}
		if r := rowsWhere(t, n, "kip_commit", "denied"); len(r) != 0 {
			t.Fatalf("off refused: %+v", r)
		}
		wantBlock(t, binding(t, s, "Verso"), `{"mode":"off","bound_instance":null,"source":null,"match":null}`)
	})

	t.Run("port", func(t *testing.T) { // I-12, I-14, I-23, O-binding-1/2, U-17
		data := t.TempDir()
		env := bindEnv{port: "desk"}
		n := startBound(t, data, env)
		s := mcpSession(t, n)
		wantBlock(t, binding(t, s, "Recto"), `{"mode":"strict","bound_instance":null,"source":null,"match":null,"port":"desk"}`)
		mustCall(t, s, "kip_commit", entryArgs("Recto", "a"))
		pb, sb := auditRows(t, n, "port_binding"), auditRows(t, n, "session_binding")
		if len(pb) != 1 || len(sb) != 1 || pb[0].Seq > sb[0].Seq || str(pb[0].Actor) != "Recto" {
			t.Fatalf("learn rows: port %+v session %+v", pb, sb)
		}
		if d := detailOf(t, pb[0]); d["port"] != "desk" || d["action"] != "learn" || d["mode"] != "strict" {
			t.Fatalf("port_binding learn: %s", pb[0].Detail)
		}
		if d := detailOf(t, sb[0]); d["source"] != "port" || d["learned"] != true || d["port"] != "desk" {
			t.Fatalf("session_binding learn: %s", sb[0].Detail)
		}
		// The port name seeds every later session of this gateway.
		s2 := mcpSession(t, n)
		_, e := call(t, s2, "kip_commit", entryArgs("Verso", "b"))
		mustContain(t, e, "learned (sticky) as 'Recto'", "--clear desk")
		closeAll(s, s2) // an open session's stream would hold the HTTP shutdown
		n.stop(context.Background())

		// Restart: restored at start, enforced before any write.
		n = startBound(t, data, env)
		restored := rowsWhere(t, n, "session_binding", "ok")
		last := restored[len(restored)-1]
		if str(last.Actor) != "Recto" || string(last.Detail) != `{"mode":"strict","source":"port","port":"desk","restored":true}` {
			t.Fatalf("restored row (untagged, I-14): %+v %s", last, last.Detail)
		}
		s = mcpSession(t, n)
		wantBlock(t, binding(t, s, "Verso"), `{"mode":"strict","bound_instance":"Recto","source":"port","match":false,"port":"desk"}`)
		_, e = call(t, s, "kip_commit", entryArgs("Verso", "c"))
		mustContain(t, e, "learned (sticky) as 'Recto'")

		code, show, stderr := admin(t, "--data", data, "binding")
		if code != 0 || show["ports"].(map[string]any)["desk"].(map[string]any)["instance"] != "Recto" || len(show["trail"].([]any)) != 3 {
			t.Fatalf("admin binding: %d %v %s", code, show, stderr)
		}
		code, cl, stderr := admin(t, "--data", data, "binding", "--clear", "desk")
		if code != 0 || cl["cleared"] != "desk" || cl["was"] != "Recto" {
			t.Fatalf("admin binding --clear: %d %v %s", code, cl, stderr)
		}
		clr := auditRows(t, n, "port_binding")
		if c := clr[len(clr)-1]; str(c.Actor) != "practitioner" || string(c.Detail) != `{"port":"desk","action":"clear","was":"Recto"}` {
			t.Fatalf("clear row (untagged CLI row): %+v %s", c, c.Detail)
		}
		// The running gateway rekeys on its next mismatch: the port learns again.
		mustCall(t, s, "kip_commit", entryArgs("Verso", "d"))
		if pb := auditRows(t, n, "port_binding"); str(pb[len(pb)-1].Actor) != "Verso" || detailOf(t, pb[len(pb)-1])["action"] != "learn" {
			t.Fatalf("relearn: %+v", pb)
		}
		closeAll(s)
		n.stop(context.Background())

		// And the relearned name is what the next start restores.
		n = startBound(t, data, env)
		defer n.stop(context.Background())
		s = mcpSession(t, n)
		defer s.Close()
		wantBlock(t, binding(t, s, "Verso"), `{"mode":"strict","bound_instance":"Verso","source":"port","match":true,"port":"desk"}`)
	})

	t.Run("relay verbs have no identity property", func(t *testing.T) { // INV-13, T-common-9
		n := boundNode(t, bindEnv{instance: "Verso"})
		res, err := mcpSession(t, n).ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, tool := range res.Tools {
			switch tool.Name {
			case "stage_approve", "land_approve", "stage_revert":
				seen++
				b, _ := json.Marshal(tool.InputSchema)
				if strings.Contains(string(b), "instance_id") || strings.Contains(string(b), "sender") {
					t.Fatalf("%s schema has an identity property: %s", tool.Name, b)
				}
			}
		}
		if seen != 3 {
			t.Fatalf("relay verbs listed: %d", seen)
		}
	})
}

// TestBinding_InvalidModeRefusesStart is I-3: an invalid mode never starts a gateway.
func TestBinding_InvalidModeRefusesStart(t *testing.T) {
	gc := gateway.DefaultConfig()
	gc.BindingMode = "loose"
	err := gc.Validate()
	if err == nil || !strings.Contains(err.Error(), "strict|witness|off") {
		t.Fatalf("Validate = %v", err)
	}
}

// secondGateway starts another gateway.Service on n's bus, as `stasima serve gateway` would
// (SC-19): its own connection under the gateway's credentials, its own HTTP listener.
func secondGateway(t *testing.T, n *node) *gateway.Service {
	t.Helper()
	opts := append(busOptions(bus.MustSubjects(n.cfg.BusPrefix), bus.UserGateway), nats.Name("stasima-gateway-2"))
	if u, ok := n.creds["gateway"]; ok {
		opts = append(opts, nats.UserInfo(u.Name, u.Password))
	}
	nc, err := nats.Connect(n.ns.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	gc := n.cfg.gateway()
	gc.HTTPAddr = "127.0.0.1:0"
	var gw *gateway.Service
	app := fx.New(fx.NopLogger,
		fx.Supply(gc, slog.New(slog.NewTextHandler(io.Discard, nil)), nc, fx.Annotate(js, fx.As(new(jetstream.JetStream)))),
		gateway.Module, fx.Populate(&gw))
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Stop(context.Background()) })
	return gw
}

func sessionAt(t *testing.T, addr string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "stasima-test", Version: "1"}, nil)
	s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBinding_SC19 is SC-19: two gateways on one bus exchange messages and read each other's
// state; list_instances is wrapped; a casing variant is warned at announce (OR-3) and refused at
// write (C-names-4). Each gateway binds its own sessions (I-9).
func TestBinding_SC19(t *testing.T) {
	n := boundNode(t, bindEnv{})
	gw2 := secondGateway(t, n)
	recto := mcpSession(t, n)
	verso := sessionAt(t, gw2.Addr())

	mustCall(t, recto, "kip_commit", entryArgs("Recto", "a"))
	mustCall(t, verso, "kip_commit", entryArgs("Verso", "b"))
	mustCall(t, recto, "imp_send", map[string]any{"instance_id": "Recto", "recipients": []string{"Verso"},
		"subject": "hello", "body": "across gateways", "op_id": "m-1"})
	inbox := mustCall(t, verso, "imp_check", map[string]any{"instance_id": "Verso"})
	b, _ := json.Marshal(inbox)
	mustContain(t, string(b), "hello", "Recto")
	got := mustCall(t, verso, "kip_get", map[string]any{"ref": "Recto", "path": "practice/a.md"})
	mustContain(t, got["text"].(string), "by Recto")

	li := mustCall(t, verso, "list_instances", map[string]any{})
	inst, ok := li["instances"].([]any)
	if !ok || len(inst) != 2 || inst[0] != "Recto" || inst[1] != "Verso" {
		t.Fatalf("list_instances (wrapped): %v", li)
	}

	variant := sessionAt(t, gw2.Addr())
	ann := mustCall(t, variant, "announce", map[string]any{"instance_id": "recto"})
	mustContain(t, ann["name_warning"].(string), `"Recto"`, `"recto"`, "case")
	_, e := call(t, variant, "kip_commit", entryArgs("recto", "c"))
	mustContain(t, e, "Recto", "recto", "case")

	// The two gateways hold separate registries: Recto's session on gateway 1 is untouched by
	// gateway 2's sessions, and a cross-claim on gateway 2 names its own bound seat.
	_, e = call(t, verso, "kip_commit", entryArgs("Recto", "d"))
	mustContain(t, e, "learned (sticky) as 'Verso'")
	mustCall(t, recto, "kip_commit", entryArgs("Recto", "e"))
}

func restSession(t *testing.T, n *node, token, tool string, args any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(args)
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.gw.Addr()+"/api/v1/tools/"+tool, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Stasima-Session", token)
	}
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

func restMessage(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// TestBinding_RESTSession is I-24 / D-25: the REST mirror binds on the Stasima-Session header
// (namespaced apart from MCP), refuses an identity-claiming call without it, and never asks
// it of reads; rows carry the session's tag (I-30).
func TestBinding_RESTSession(t *testing.T) {
	n := boundNode(t, bindEnv{})
	code, out := restSession(t, n, "", "kip_commit", entryArgs("Recto", "a"))
	if code != http.StatusForbidden || out["error"].(map[string]any)["class"] != "Denied" {
		t.Fatalf("no header: %d %v", code, out)
	}
	mustContain(t, restMessage(out), "Stasima-Session")
	if r := auditRows(t, n, "session_binding"); len(r) != 0 {
		t.Fatalf("refused before any rule, yet learned: %+v", r)
	}

	if code, out = restSession(t, n, "conv-1", "kip_commit", entryArgs("Recto", "a")); code != http.StatusOK {
		t.Fatalf("with header: %d %v", code, out)
	}
	code, out = restSession(t, n, "conv-1", "kip_commit", entryArgs("Verso", "b"))
	if code != http.StatusForbidden {
		t.Fatalf("cross-claim on one REST session: %d %v", code, out)
	}
	mustContain(t, restMessage(out), "learned (sticky) as 'Recto'")
	if code, out = restSession(t, n, "conv-2", "kip_commit", entryArgs("Verso", "b")); code != http.StatusOK {
		t.Fatalf("second REST session: %d %v", code, out)
	}
	if code, out = restSession(t, n, "", "kip_get", map[string]any{"ref": "Verso", "path": "practice/b.md"}); code != http.StatusOK {
		t.Fatalf("a read without the header: %d %v", code, out)
	}
	_, who := restSession(t, n, "conv-1", "whoami", map[string]any{"instance_id": "Recto"})
	wantBlock(t, who["session_binding"].(map[string]any), `{"mode":"strict","bound_instance":"Recto","source":"session","match":true}`)

	rows := rowsWhere(t, n, "kip_commit", "ok")
	if len(rows) != 2 || detailOf(t, rows[0])["session"] != tagOf("rest:conv-1") || detailOf(t, rows[1])["session"] != tagOf("rest:conv-2") {
		t.Fatalf("session tags: %+v", rows)
	}
	// An MCP session never shares state with a REST token of the same text (I-8 namespacing).
	mustCall(t, mcpSession(t, n), "kip_commit", entryArgs("Tertia", "c"))
}
