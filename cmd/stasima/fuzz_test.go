package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzREST drives the REST mirror of a running `up` node with arbitrary tool names, content
// types and bodies (seed corpus in testdata/fuzz/FuzzREST: issue 13's crashers and hostile
// shapes). Whatever arrives, the answer is below 500, a served call is a JSON result, a refusal
// of the mirror is T-common-19's JSON error with a refusal class (never Internal), and the
// process keeps answering.
func FuzzREST(f *testing.F) {
	base := perimeterNode(f, "strict", false)
	f.Fuzz(func(t *testing.T, tool, ctype string, body []byte) {
		req, err := http.NewRequest(http.MethodPost, base+"/api/v1/tools/"+url.PathEscape(tool), bytes.NewReader(body))
		if err != nil || strings.ContainsFunc(ctype, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return // no client sends it: net/http refuses such a header value before it leaves
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Stasima-Session", "fuzz")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %q: the gateway did not answer: %v", tool, err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		out := buf.Bytes()
		if resp.StatusCode >= 500 {
			t.Fatalf("POST %q %q %q: %d %s", tool, ctype, short(body), resp.StatusCode, short(out))
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			return // the perimeter's or the router's plain-text refusal (415, 421, 403, 404)
		}
		if resp.StatusCode == http.StatusOK {
			if !json.Valid(out) {
				t.Fatalf("POST %q: 200 with a body that is not JSON: %s", tool, short(out))
			}
			return
		}
		var e restError
		if err := json.Unmarshal(out, &e); err != nil || e.Error.Class == "" || e.Error.Class == "Internal" || e.Error.Message == "" {
			t.Fatalf("POST %q %q %q: %d %s, want a JSON refusal with a class", tool, ctype, short(body), resp.StatusCode, short(out))
		}
	})
}
