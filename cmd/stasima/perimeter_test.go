package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// perimeterNode starts `up` on a loopback port in binding mode mode, with the OAuth door armed
// (public URL http://127.0.0.1:<port>) or not, and returns its base URL.
func perimeterNode(t testing.TB, mode string, door bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cfg, err := loadConfig(t.TempDir(), "", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BindingMode = mode
	base := "http://127.0.0.1:" + port
	if door {
		cfg.Transport, cfg.HTTPPublicURL = "http", base
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	return base
}

// route is one request of the agent surfaces.
type route struct{ method, path, body string }

// agentRoutes are every REST route (the tool list, a POST per tool, health, the OpenAPI
// document, the public checkpoint routes) and /mcp.
func agentRoutes(t *testing.T, base string) []route {
	t.Helper()
	rs := []route{{"GET", "/api/v1/tools", ""}, {"GET", "/healthz", ""}, {"GET", "/readyz", ""},
		{"GET", "/mcp", ""}, {"POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`},
		{"GET", "/api/v1/openapi.json", ""}, {"GET", "/checkpoint", ""}, {"POST", "/checkpoint/consistency", `{"from":"x"}`}}
	// The names come from the contract file: under the door the live list needs a bearer.
	var golden []struct{ Name string }
	b, err := readGoldenTools()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden) != 29 {
		t.Fatalf("%d tools in the contract, want 29", len(golden))
	}
	for _, tool := range golden {
		rs = append(rs, route{"POST", "/api/v1/tools/" + tool.Name, "{}"})
	}
	return rs
}

// TestUp_Perimeter is D-41 end to end: a foreign Host (421), a foreign Origin (403) and a
// text/plain or form POST (415) are refused on every REST route and /mcp, in each binding mode,
// with the OAuth door armed and not; the same requests with the listener's own Host, no Origin
// and a JSON body reach the application.
func TestUp_Perimeter(t *testing.T) {
	for _, door := range []bool{false, true} {
		for _, mode := range []string{"strict", "witness", "off"} {
			name := mode + " door=" + strconv.FormatBool(door)
			t.Run(name, func(t *testing.T) {
				base := perimeterNode(t, mode, door)
				u, _ := url.Parse(base)
				send := func(r route, host, origin, ctype string) int {
					t.Helper()
					req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
					req.Host = host
					if origin != "" {
						req.Header.Set("Origin", origin)
					}
					if ctype != "" {
						req.Header.Set("Content-Type", ctype)
					}
					req.Header.Set("Accept", "application/json, text/event-stream")
					req.Header.Set("Stasima-Session", "perimeter")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatalf("%s %s: %v", r.method, r.path, err)
					}
					resp.Body.Close()
					return resp.StatusCode
				}
				for _, r := range agentRoutes(t, base) {
					json := ""
					if r.method == "POST" {
						json = "application/json"
					}
					for _, tt := range []struct {
						what                string
						host, origin, ctype string
						want                int
					}{
						{"foreign Host", "evil.example", "", json, http.StatusMisdirectedRequest},
						{"rebinding name on our port", "attacker.test:" + u.Port(), "", json, http.StatusMisdirectedRequest},
						{"foreign Origin", u.Host, "http://evil.example", json, http.StatusForbidden},
						{"https loopback Origin", u.Host, "https://localhost", json, http.StatusForbidden},
					} {
						if got := send(r, tt.host, tt.origin, tt.ctype); got != tt.want {
							t.Errorf("%s %s with %s: %d, want %d", r.method, r.path, tt.what, got, tt.want)
						}
					}
					if r.method != "POST" {
						continue
					}
					for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
						if got := send(r, u.Host, "", ct); got != http.StatusUnsupportedMediaType {
							t.Errorf("POST %s with Content-Type %q: %d, want 415", r.path, ct, got)
						}
					}
					// The guard is not all it does: a proper request reaches the application
					// (the door then asks for a bearer).
					want := http.StatusOK
					if door {
						want = http.StatusUnauthorized
					}
					if r.path == "/api/v1/tools/canon_state" {
						if got := send(r, u.Host, "http://localhost:5173", "application/json; charset=utf-8"); got != want {
							t.Errorf("POST %s from a loopback page: %d, want %d", r.path, got, want)
						}
					}
				}
				if code := send(route{"GET", "/healthz", ""}, u.Host, "", ""); code != http.StatusOK {
					t.Errorf("healthz: %d", code)
				}
			})
		}
	}
}

// readGoldenTools reads the contract's tool list (tools/list as checked in).
func readGoldenTools() ([]byte, error) {
	return os.ReadFile(filepath.Join("..", "..", "services", "gateway", "internal", "toolspec", "testdata", "tools_list.golden.json"))
}
