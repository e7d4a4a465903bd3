package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// POST /checkpoint/consistency is public: whatever a stranger posts is refused with a 4xx and
// T-common-19's JSON error (never Internal), and the gateway keeps serving GET /checkpoint.
func TestTlog_GatewayConsistencyRefusals(t *testing.T) {
	n := testNode(t)
	base := "http://" + n.gw.Addr()
	note := func(size string) string {
		return `{"from":"example.org/log\n` + size + `\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.org/log AAAAAAAA\n"}`
	}
	for _, tt := range []struct {
		what, body string
		want       int
	}{
		{"not JSON", "checkpoint", http.StatusBadRequest},
		{"a JSON array", `["x"]`, http.StatusBadRequest},
		{"no from", `{}`, http.StatusBadRequest},
		{"empty from", `{"from":""}`, http.StatusBadRequest},
		{"an unknown field", `{"from":"x","seq":1}`, http.StatusBadRequest},
		{"from not a string", `{"from":12}`, http.StatusBadRequest},
		{"junk from", `{"from":"not a checkpoint"}`, http.StatusBadRequest},
		{"a huge size", note("18446744073709551616"), http.StatusBadRequest},
		{"the largest size", note("18446744073709551615"), http.StatusBadRequest},
		{"a negative size", note("-1"), http.StatusBadRequest},
		{"a foreign signature", note("1"), http.StatusBadRequest},
		{"invalid UTF-8", "{\"from\":\"\xff\xfe\"}", http.StatusBadRequest},
		{"over 16 KiB", `{"from":"` + strings.Repeat("a", 17<<10) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		resp, err := http.Post(base+"/checkpoint/consistency", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatalf("%s: the gateway did not answer: %v", tt.what, err)
		}
		var e restError
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tt.want || err != nil || e.Error.Class == "" || e.Error.Class == "Internal" {
			t.Errorf("POST /checkpoint/consistency with %s: %d %+v (%v), want %d and a refusal class", tt.what, resp.StatusCode, e, err, tt.want)
		}
	}
	resp, err := http.Get(base + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /checkpoint after the refusals: %d", resp.StatusCode)
	}
}
