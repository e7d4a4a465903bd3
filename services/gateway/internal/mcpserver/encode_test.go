package mcpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// reference is the T-common-4 encoding as it was written before issue 15: json.Encoder with
// SetIndent, no HTML escaping, the trailing newline trimmed.
func reference(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n")), nil
}

type encodeRow struct {
	Path   string   `json:"path"`
	Title  string   `json:"title"`
	Tick   string   `json:"tick,omitempty"`
	Links  []string `json:"links"`
	Nested struct {
		Empty  map[string]int `json:"empty"`
		Null   *int           `json:"null"`
		Number float64        `json:"number"`
		OK     bool           `json:"ok"`
	} `json:"nested"`
}

func encodeValues() []any {
	rows := []encodeRow{}
	for i, title := range []string{"", "plain", `quote " and \ backslash`, `\"`, `\\`, "<html> & co", "tab\tnew\nline",
		"unicode é ✓ \u2028 \u2029", "\x00\x1f control", "{[,:]}", `"`, "ends with \\"} {
		r := encodeRow{Path: fmt.Sprintf("big/e%05d.md", i), Title: title, Links: []string{}}
		if i%2 == 0 {
			r.Tick, r.Links = "t1", []string{title, "x"}
		}
		r.Nested.Empty, r.Nested.Number, r.Nested.OK = map[string]int{}, float64(i)-0.5, i%3 == 0
		rows = append(rows, r)
	}
	return []any{
		nil, 0, -1.25e-7, true, "", "a \"string\"", []int{}, map[string]any{}, []any{[]any{}, map[string]any{}, nil},
		map[string]any{"entries": rows}, rows[2], map[string]any{"a": map[string]any{"b": []any{1, "2", nil, []int{3}}}},
		json.RawMessage(`{"raw":[1,2,{"x":"y"}]}`),
	}
}

func TestEncode_MatchesIndentedEncoder(t *testing.T) {
	for i, v := range encodeValues() {
		want, err := reference(v)
		if err != nil {
			t.Fatal(err)
		}
		compact, got, err := encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("value %d: text\n%s\nwant\n%s", i, got, want)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, []byte(want)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(compact, c.Bytes()) {
			t.Errorf("value %d: compact %s, want %s", i, compact, c.Bytes())
		}
	}
}

// FuzzIndent checks indent against json.Indent on every compact encoding of a valid document.
func FuzzIndent(f *testing.F) {
	for _, v := range encodeValues() {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	if seeds, _ := filepath.Glob("../../../../../shared/testdata/*.json"); len(seeds) > 0 {
		for _, p := range seeds {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		want, err := reference(v)
		if err != nil {
			return
		}
		_, got, err := encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("text\n%s\nwant\n%s", got, want)
		}
	})
}

// benchListing is a 1,000-entry list_entries answer (issue 15's list figure).
func benchListing() any {
	type row struct {
		Path   string `json:"path"`
		Title  string `json:"title"`
		Status string `json:"status"`
		Type   string `json:"type"`
		Tick   string `json:"tick,omitempty"`
		Thread string `json:"thread,omitempty"`
	}
	rows := make([]row, 1000)
	for i := range rows {
		rows[i] = row{Path: fmt.Sprintf("big/e%05d.md", i), Title: fmt.Sprintf("Entry %d of the big domain", i),
			Status: "canon", Type: "note", Thread: "t003"}
	}
	return map[string]any{"entries": rows}
}

// BenchmarkEncode is the T-common-4 encoding of a 1,000-entry listing: the indented encoder it
// replaced, and encode (compact once, indented from it).
func BenchmarkEncode(b *testing.B) {
	v := benchListing()
	b.Run("before", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := reference(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("after", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := encode(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// sdkBytes is how the SDK writes a result into a JSON-RPC response (jsonrpc2.jsonMarshal).
func sdkBytes(t testing.TB, v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestEncodedResult_WireUnchanged: a result handed to the SDK as an encodedResult is written
// byte for byte as the SDK writes the *mcp.CallToolResult itself, including the results it
// leaves to the SDK (errors, metadata, other content).
func TestEncodedResult_WireUnchanged(t *testing.T) {
	var results []*mcp.CallToolResult
	values := append(encodeValues(), map[string]any{"raw": json.RawMessage("\"<a\u2028b> & \u2014\"")})
	for _, v := range values {
		compact, text, err := encode(v)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}},
			StructuredContent: json.RawMessage(compact)})
	}
	withMeta := *results[9]
	withMeta.Meta = mcp.Meta{"k": "v"}
	annotated := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "x", Meta: mcp.Meta{"a": 1}}},
		StructuredContent: json.RawMessage(`{}`)}
	results = append(results, &withMeta, annotated,
		errorResult("kip_get", fmt.Errorf("boom <&>"), slog.New(slog.DiscardHandler)),
		&mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a"}, &mcp.TextContent{Text: "b"}}},
		&mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a"}}, StructuredContent: map[string]any{"x": "<"}})
	for i, res := range results {
		want := sdkBytes(t, res)
		if got := sdkBytes(t, encodedResult{res}); got != want {
			t.Errorf("result %d:\n got %s\nwant %s", i, got, want)
		}
		want, got := sdkBytes(t, map[string]any{"result": res}), sdkBytes(t, map[string]any{"result": encodedResult{res}})
		if got != want {
			t.Errorf("result %d in a response:\n got %s\nwant %s", i, got, want)
		}
	}
}

// BenchmarkResultWire is the SDK's encoding of a 1,000-entry listing's result: the
// *mcp.CallToolResult as it was, and the encodedResult.
func BenchmarkResultWire(b *testing.B) {
	compact, text, err := encode(benchListing())
	if err != nil {
		b.Fatal(err)
	}
	res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}, StructuredContent: json.RawMessage(compact)}
	for _, c := range []struct {
		name string
		v    any
	}{{"before", res}, {"after", encodedResult{res}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sdkBytes(b, c.v)
			}
		})
	}
}

// BenchmarkCanonStateWire splits the cost of a canon_state answer at 100,000 canon paths
// (T-canon_state: entries lists every path) between the gateway's encoding, the SDK's writing of
// it into a JSON-RPC response (the result encoded, then the response around it: two passes over
// every byte), and an SDK client's decoding of that response, with and without the optional
// structured content (T-common-4). Issue 15 targets canon_state at p95 30 ms; these are the parts
// no implementation of the tool can skip while it answers over the official SDK.
func BenchmarkCanonStateWire(b *testing.B) {
	paths := make([]string, 100_000)
	for i := range paths {
		paths[i] = fmt.Sprintf("d%03d/e%06d.md", i%97, i)
	}
	entries, err := json.Marshal(paths)
	if err != nil {
		b.Fatal(err)
	}
	answer := struct {
		CanonTip string          `json:"canon_tip"`
		Seq      string          `json:"seq"`
		Entries  json.RawMessage `json:"entries"`
	}{"0123456789abcdef0123456789abcdef01234567", "3c", entries}
	compact, text, err := encode(answer)
	if err != nil {
		b.Fatal(err)
	}
	type response struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      int             `json:"id"`
		Result  json.RawMessage `json:"result"`
	}
	for _, c := range []struct {
		name string
		res  *mcp.CallToolResult
	}{
		{"text+structured", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}, StructuredContent: json.RawMessage(compact)}},
		{"text-only", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}},
	} {
		wire := []byte(sdkBytes(b, response{"2.0", 1, json.RawMessage(sdkBytes(b, encodedResult{c.res}))}))
		b.Run(c.name+"/gateway-encode", func(b *testing.B) {
			for b.Loop() {
				if _, _, err := encode(answer); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/sdk-write", func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				sdkBytes(b, response{"2.0", 1, json.RawMessage(sdkBytes(b, encodedResult{c.res}))})
			}
		})
		b.Run(c.name+"/client-decode", func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				var r struct {
					Result mcp.CallToolResult `json:"result"`
				}
				if err := json.Unmarshal(wire, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
