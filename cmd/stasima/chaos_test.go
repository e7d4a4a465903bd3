package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// wireTool is one tool as the REST mirror lists it: the contract on the wire (T-common-2).
type wireTool struct {
	Name        string `json:"name"`
	InputSchema struct {
		Properties map[string]struct {
			Type string `json:"type"`
		} `json:"properties"`
		Required []string `json:"required"`
	} `json:"inputSchema"`
}

// params returns the tool's parameter names, sorted.
func (w wireTool) params() []string {
	var out []string
	for p := range w.InputSchema.Properties {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func listTools(t *testing.T, n *node) []wireTool {
	t.Helper()
	resp, err := http.Get("http://" + n.gw.Addr() + "/api/v1/tools")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Tools []wireTool }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.Tools) != 29 {
		t.Fatalf("%d tools listed, want the 29 of the contract", len(out.Tools))
	}
	return out.Tools
}

// validArgs are well-formed values for every parameter a tool requires, by name; a call built
// from them reaches the tool's own rules. A contract change that adds a required parameter
// fails baseArgs until it is listed here.
var validArgs = map[string]any{
	"instance_id": "Chaos", "ref": "canon", "path": "practice/base", "proposal_id": "p-chaos",
	"domain": "practice", "slug": "chaos", "body": "b", "op_id": "chaos-op", "reason": "r",
	"query": "weft", "recipients": []string{"Recto"}, "subject": "s", "message_path": "messages/none.md",
	"binds": "practice/base.md", "horizon": "h", "code": "000000", "staged_oid_prefix": "abcdef0",
}

func baseArgs(t *testing.T, tool wireTool) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for _, p := range tool.InputSchema.Required {
		v, ok := validArgs[p]
		if !ok {
			t.Fatalf("%s requires %q, which validArgs lacks", tool.Name, p)
		}
		b, _ := json.Marshal(v)
		out[p] = b
	}
	return out
}

// restRaw posts a raw JSON body to a tool of the REST mirror and returns the status and body.
func restRaw(t *testing.T, n *node, tool string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.gw.Addr()+"/api/v1/tools/"+tool, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stasima-Session", "chaos")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: the gateway did not answer: %v", tool, body, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// hostileNumbers are the integers and numbers every parameter is given (issue 13).
var hostileNumbers = []string{"0", "-1", "2147483648", "9007199254740993", "9223372036854775807",
	"-9223372036854775808", "9223372036854775808", "18446744073709551616", "1e308", "-1e308", "1.5", "1e-7"}

// hostileIntegerStrings are the other values an integer parameter is given: numeric strings
// (T-common-3 accepts those in range) and everything else.
var hostileIntegerStrings = []string{`"NaN"`, `"Infinity"`, `"abc"`, `""`, `"1e3"`, `"-1"`, `" 7 "`,
	`"9223372036854775807"`, `"9223372036854775808"`, `true`, `null`, `[]`, `{}`, `[1]`}

// inInt64 reports whether a raw JSON value is an integer of int64 range, as a number or a
// decimal string (what the gateway accepts for an integer parameter).
func inInt64(raw string) bool {
	switch raw {
	case "0", "-1", "2147483648", "9007199254740993", "9223372036854775807", "-9223372036854775808",
		`"-1"`, `" 7 "`, `"9223372036854775807"`:
		return true
	}
	return false
}

func readyz(t *testing.T, n *node) {
	t.Helper()
	resp, err := http.Get("http://" + n.gw.Addr() + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %d", resp.StatusCode)
	}
}

// noPanics fails when the gateway recovered any panic (stasima_handler_panics_total).
func noPanics(t *testing.T, n *node) {
	t.Helper()
	resp, err := http.Get("http://" + n.gw.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(line, "stasima_handler_panics_total{") {
			t.Errorf("a handler panicked: %s", line)
		}
	}
}

// TestUp_HostileIntegers is issue 13's table: every parameter of all 29 tools given hostile
// integers and numbers, every integer parameter given hostile strings too, over REST and MCP.
// An integer of int64 range is accepted on an integer parameter (the paging saturates: 0.1.5
// accepted every such call); anything else is a 400 ArgumentError naming the tool, the
// parameter and the value. Never a 5xx, no ref moves, and the process answers /readyz.
func TestUp_HostileIntegers(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	// Two vantages on one entry: vap_for(offset=1, limit=2^63-1) sliced out of range and took
	// the whole process down.
	mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "base", "body": "b", "op_id": "base"})
	for _, op := range []string{"v1", "v2"} {
		mustCall(t, s, "vap_record", map[string]any{"instance_id": "Recto", "binds": "practice/base.md", "horizon": "h", "op_id": op})
	}
	before := refsSnapshot(t, n.cfg.GitDir)
	calls := 0
	for _, tool := range listTools(t, n) {
		base := baseArgs(t, tool)
		if len(tool.InputSchema.Properties) == 0 {
			if code, body := restRaw(t, n, tool.Name, []byte(`{"limit":9223372036854775807}`)); code != http.StatusBadRequest ||
				!bytes.Contains(body, []byte(`unknown argument \"limit\" for `+tool.Name)) {
				t.Errorf("%s(limit=2^63-1): %d %s, want 400 naming the unknown argument", tool.Name, code, body)
			}
			calls++
			continue
		}
		for _, p := range tool.params() {
			integer := tool.InputSchema.Properties[p].Type == "integer"
			values := hostileNumbers
			if integer {
				values = append(slices.Clone(hostileNumbers), hostileIntegerStrings...)
			}
			for _, v := range values {
				args := map[string]json.RawMessage{}
				for k, b := range base {
					args[k] = b
				}
				args[p] = json.RawMessage(v)
				body, _ := json.Marshal(args)
				code, out := restRaw(t, n, tool.Name, body)
				calls++
				if integer && inInt64(v) {
					if code != http.StatusOK {
						t.Errorf("%s(%s=%s): %d %s, want the call served", tool.Name, p, v, code, out)
					}
				} else {
					var e restError
					_ = json.Unmarshal(out, &e)
					want := fmt.Sprintf(`argument %q for %s`, p, tool.Name)
					if code != http.StatusBadRequest || e.Error.Class != "ArgumentError" || !strings.Contains(e.Error.Message, want) {
						t.Errorf("%s(%s=%s): %d %s, want 400 ArgumentError with %s", tool.Name, p, v, code, out, want)
					}
				}
				if !integer {
					continue
				}
				// The same over MCP: a tool error or a JSON result, never a protocol error.
				mcpArgs := map[string]any{}
				for k, b := range args {
					mcpArgs[k] = b
				}
				res, errText := call(t, s, tool.Name, mcpArgs)
				calls++
				if inInt64(v) != (errText == "") || (errText != "" && !strings.HasPrefix(errText, "Error executing tool "+tool.Name+`: argument "`+p+`"`)) {
					t.Errorf("MCP %s(%s=%s): %v %q", tool.Name, p, v, res, errText)
				}
			}
		}
	}
	t.Logf("%d hostile calls", calls)
	if got := mustCall(t, s, "vap_for", map[string]any{"entry": "practice/base.md", "offset": 1, "limit": json.RawMessage("9223372036854775807")}); got["count"] != 1.0 || got["total"] != 2.0 {
		t.Errorf("vap_for(offset=1, limit=2^63-1) = %v, want the second of two vantages", got)
	}
	if after := refsSnapshot(t, n.cfg.GitDir); after != before {
		t.Fatalf("refs changed:\nbefore %s\nafter  %s", before, after)
	}
	readyz(t, n)
	noPanics(t, n)
}

type restError struct {
	Error struct {
		Tool    string `json:"tool"`
		Class   string `json:"class"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeTools may move a ref when they succeed; a refused call of one must leave every ref as it
// was.
var writeTools = map[string]bool{"kip_commit": true, "propose": true, "propose_retract": true, "propose_close": true,
	"imp_send": true, "imp_mark_read": true, "vap_record": true, "sup_reconcile": true, "canon_diff": true,
	"stage_approve": true, "land_approve": true, "stage_revert": true}

// chaosValues are the hostile values the chaos generator draws from.
var chaosValues = func() []string {
	vals := append(slices.Clone(hostileNumbers), hostileIntegerStrings...)
	for _, s := range []string{"practitioner", "system", "Practitioner", "../../etc/passwd", "a\u2028b", "a\u0085b",
		"x\ninstance-id: Verso", "\x00", "refs/heads/main", "canon", "main", "Recto", "-", "🙂", "a/b/c",
		strings.Repeat("s", 5000), strings.Repeat("ü", 20000), "messages/x.md", "vantages/y.md", "meta/log/3c",
		"state/x", "full", "exact", "mine", "reconstructed", "superseded", "[\"a\",\"b\"]", "[1]", "true"} {
		b, _ := json.Marshal(s)
		vals = append(vals, string(b))
	}
	return append(vals, `["a"]`, `["practitioner"]`, `[null]`, `[[]]`, `{"a":1}`, `false`, `-0`, `0.0`, `1e2`)
}()

// TestUp_Chaos is issue 13's chaos run: 2,000 calls from a seeded generator across all 29 tools,
// alternating MCP and REST, each a valid call with one to three parameters (now and then an
// unknown one) replaced by hostile values. Every answer is a JSON result or a tool error — no
// protocol error, no 5xx, no Internal — every refused write leaves every ref unchanged, no
// handler panics, and the same process answers /readyz at the end.
func TestUp_Chaos(t *testing.T) {
	n := testNode(t)
	s := mcpSession(t, n)
	mustCall(t, s, "kip_commit", map[string]any{"instance_id": "Recto", "domain": "practice", "slug": "base", "body": "b", "op_id": "base"})
	tools := listTools(t, n)
	rng := rand.New(rand.NewPCG(13, 2026))
	refs := refsSnapshot(t, n.cfg.GitDir)
	served, refused := 0, 0
	for i := range 2000 {
		tool := tools[rng.IntN(len(tools))]
		args := baseArgs(t, tool)
		params := tool.params()
		for range 1 + rng.IntN(3) {
			name := "limitt"
			if len(params) > 0 && rng.IntN(10) > 0 {
				name = params[rng.IntN(len(params))]
			}
			args[name] = json.RawMessage(chaosValues[rng.IntN(len(chaosValues))])
		}
		body, _ := json.Marshal(args)
		var ok bool
		if i%2 == 0 {
			code, out := restRaw(t, n, tool.Name, body)
			if code >= 500 || !json.Valid(out) {
				t.Fatalf("call %d REST %s %s: %d %s", i, tool.Name, short(body), code, short(out))
			}
			ok = code == http.StatusOK
		} else {
			res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool.Name, Arguments: json.RawMessage(body)})
			if err != nil {
				t.Fatalf("call %d MCP %s %s: protocol error %v", i, tool.Name, short(body), err)
			}
			if len(res.Content) != 1 {
				t.Fatalf("call %d MCP %s: %d content blocks", i, tool.Name, len(res.Content))
			}
			text := res.Content[0].(*mcp.TextContent).Text
			switch {
			case res.IsError && (!strings.HasPrefix(text, "Error executing tool "+tool.Name+": ") || strings.Contains(text, "internal error")):
				t.Fatalf("call %d MCP %s %s: %s", i, tool.Name, short(body), short([]byte(text)))
			case !res.IsError && !json.Valid([]byte(text)):
				t.Fatalf("call %d MCP %s: result is not JSON: %s", i, tool.Name, short([]byte(text)))
			}
			ok = !res.IsError
		}
		if ok {
			served++
		} else {
			refused++
		}
		if !writeTools[tool.Name] {
			continue
		}
		now := refsSnapshot(t, n.cfg.GitDir)
		if !ok && now != refs {
			t.Fatalf("call %d %s %s was refused but moved refs:\nbefore %s\nafter  %s", i, tool.Name, short(body), refs, now)
		}
		refs = now
	}
	t.Logf("2000 calls: %d served, %d refused", served, refused)
	readyz(t, n)
	noPanics(t, n)
}

// short cuts a body for a failure message.
func short(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + fmt.Sprintf("…(%d bytes)", len(b))
	}
	return string(b)
}
