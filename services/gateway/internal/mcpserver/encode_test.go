package mcpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
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
