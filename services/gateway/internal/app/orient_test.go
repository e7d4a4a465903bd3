package app

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestPassOnPaths: canon_state's entries passed on from capstore's encoding are the bytes the
// T-common-4 encoder (no HTML escaping) writes for the decoded list, escapes included (issue 15).
func TestPassOnPaths(t *testing.T) {
	enc := func(v any) string {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	for _, paths := range [][]string{nil, {}, {"a.md"}, {"big/e00001.md", "d/x y.md", "é/✓.md"},
		{"a&b.md", "<x>.md"}, {`q"uote.md`, `back\slash.md`, "tab\t.md", "ls\u2028.md", "bad\xff.md"}} {
		wire, _ := json.Marshal(struct {
			Paths []string `json:"paths"`
		}{paths}) // as capstore's reply carries them
		// The oracle is what canon_state wrote before: the list decoded, then encoded.
		var decoded struct {
			Paths []string `json:"paths"`
		}
		if err := json.Unmarshal(wire, &decoded); err != nil {
			t.Fatal(err)
		}
		want := enc(struct {
			Entries []string `json:"entries"`
		}{decoded.Paths})
		var raw struct {
			Paths json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(wire, &raw); err != nil {
			t.Fatal(err)
		}
		entries, err := passOnPaths(raw.Paths)
		if err != nil {
			t.Fatal(err)
		}
		if got := enc(struct {
			Entries json.RawMessage `json:"entries"`
		}{entries}); got != want {
			t.Errorf("%q: got %s want %s", paths, got, want)
		}
	}
}
