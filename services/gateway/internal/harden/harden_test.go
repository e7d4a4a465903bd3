package harden

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// echo answers 200 with the body it read, so a test sees what reached the application.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	w.Write(b)
})

func serve(h http.Handler, method, path, host string, hdr map[string]string, body io.Reader) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, body)
	r.Host = host
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRebinding is I-51, D-7 and D-41 on /mcp and the REST mirror, armed or not: the bind host
// and the extra hosts pass, and the loopback names while the listener is loopback; anything else
// is 421; Origins are checked against the same lists (403); a POST body must be JSON (415).
func TestRebinding(t *testing.T) {
	extra := []string{"tail.example", "box.example:8443"}
	loop := New(Config{BindHost: "127.0.0.1", AllowedHosts: extra}, echo)
	tail := New(Config{BindHost: "100.101.1.5", AllowedHosts: extra}, echo)
	tests := []struct {
		name, host, origin, ctype string
		loop, tail                int // the answer with a loopback and a Tailscale listener
	}{
		{"loopback ip", "127.0.0.1:8787", "", "", 200, 421},
		{"localhost no port", "localhost", "", "", 200, 421},
		{"ipv6 loopback", "[::1]:8787", "", "", 200, 421},
		{"tailscale bind host", "100.101.1.5:8787", "", "", 421, 200},
		{"extra host any port", "tail.example:9999", "", "", 200, 200},
		{"extra host upper case", "TAIL.example", "", "", 200, 200},
		{"extra host exact port", "box.example:8443", "", "", 200, 200},
		{"extra host wrong port", "box.example:8444", "", "", 421, 421},
		{"foreign host", "evil.example", "", "", 421, 421},
		{"empty host", "", "", "", 421, 421},
		{"rebinding name on loopback port", "attacker.test:8787", "", "", 421, 421},
		{"loopback http origin any port", "tail.example", "http://localhost:5173", "", 200, 403},
		{"loopback https origin", "tail.example", "https://localhost", "", 403, 403},
		{"extra host https origin", "tail.example", "https://tail.example", "", 200, 200},
		{"extra host http origin", "tail.example", "http://box.example:8443", "", 200, 200},
		{"foreign origin", "tail.example", "http://evil.example", "", 403, 403},
		{"null origin", "tail.example", "null", "", 403, 403},
		{"json with charset", "tail.example", "", "application/json; charset=utf-8", 200, 200},
		{"json upper case", "tail.example", "", "Application/JSON", 200, 200},
		{"text/plain", "tail.example", "", "text/plain", 415, 415},
		{"form", "tail.example", "", "application/x-www-form-urlencoded", 415, 415},
		{"no content type", "tail.example", "", "-", 415, 415},
		{"json-ish", "tail.example", "", "application/jsonp", 415, 415},
	}
	for _, path := range []string{"/mcp", "/api/v1/tools/map_search"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				hdr := map[string]string{"Content-Type": "application/json"}
				switch tt.ctype {
				case "":
				case "-":
					delete(hdr, "Content-Type")
				default:
					hdr["Content-Type"] = tt.ctype
				}
				if tt.origin != "" {
					hdr["Origin"] = tt.origin
				}
				for _, l := range []struct {
					name string
					h    *Handler
					want int
				}{{"loopback", loop, tt.loop}, {"tailscale", tail, tt.tail}} {
					if w := serve(l.h, "POST", path, tt.host, hdr, strings.NewReader("{}")); w.Code != l.want {
						t.Fatalf("%s listener, Host %q Origin %q: %d %s, want %d", l.name, tt.host, tt.origin, w.Code, w.Body, l.want)
					}
				}
			})
		}
	}
	// GETs (the tool list, health, the MCP stream) take the Host and Origin checks but carry no
	// body to type.
	for _, path := range []string{"/api/v1/tools", "/healthz", "/readyz", "/mcp"} {
		if w := serve(loop, "GET", path, "evil.example", nil, nil); w.Code != 421 {
			t.Fatalf("GET %s with a foreign Host: %d", path, w.Code)
		}
		if w := serve(loop, "GET", path, "127.0.0.1:8787", map[string]string{"Origin": "http://evil.example"}, nil); w.Code != 403 {
			t.Fatalf("GET %s with a foreign Origin: %d", path, w.Code)
		}
		if w := serve(loop, "GET", path, "127.0.0.1:8787", nil, nil); w.Code != 200 {
			t.Fatalf("GET %s: %d", path, w.Code)
		}
	}
}

func armed(now func() time.Time) *Handler {
	return New(Config{Armed: true, HSTS: true, BindHost: "127.0.0.1", AllowedHosts: []string{"door.example"}, AppBodyCap: 1 << 20, Now: now}, echo)
}

// TestHostAllowlist is I-81 (loopback is not implicit under the door) with I-84's headers on
// the rejection.
func TestHostAllowlist(t *testing.T) {
	h := armed(nil)
	tests := []struct {
		name, path, host string
		want             int
	}{
		{"public host", "/register", "door.example", 200},
		{"public host with port", "/register", "door.example:443", 200},
		{"empty host", "/register", "", 200},
		{"foreign host", "/register", "evil.example", 421},
		{"loopback not implicit", "/register", "127.0.0.1:8787", 421},
		{"foreign host on mcp", "/mcp", "evil.example", 421},
		{"foreign host on health", "/healthz", "evil.example", 421},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, "POST", tt.path, tt.host, nil, strings.NewReader("x"))
			if w.Code != tt.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.want)
			}
			if tt.want == 421 && (w.Body.String() != "host not allowed\n" || w.Header().Get("Content-Type") != "text/plain; charset=utf-8") {
				t.Fatalf("rejection: %q %q", w.Body, w.Header().Get("Content-Type"))
			}
			for k, v := range map[string]string{
				"Content-Security-Policy":   "default-src 'none'; form-action 'self'; base-uri 'none'",
				"X-Content-Type-Options":    "nosniff",
				"Referrer-Policy":           "no-referrer",
				"Strict-Transport-Security": "max-age=63072000",
				"X-Frame-Options":           "DENY",
			} {
				if got := w.Header().Get(k); got != v {
					t.Fatalf("header %s = %q, want %q (I-84)", k, got, v)
				}
			}
		})
	}
	// Armed, the agent surfaces keep D-41's Origin and Content-Type checks; the door's pages take
	// browser forms.
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://door.example"}
	for path, want := range map[string]int{"/mcp": 415, "/api/v1/tools/kip_get": 415, "/approve": 200, "/token": 200} {
		if w := serve(h, "POST", path, "door.example", form, strings.NewReader("a=b")); w.Code != want {
			t.Fatalf("armed form POST %s: %d, want %d", path, w.Code, want)
		}
	}
	if w := serve(h, "POST", "/api/v1/tools/kip_get", "door.example", map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, strings.NewReader("{}")); w.Code != 403 {
		t.Fatalf("armed foreign Origin on the REST mirror: %d", w.Code)
	}
	if got := serve(h, "POST", "/register", "door.example", nil, nil).Header().Get("Cache-Control"); got != "no-store" {
		t.Fatalf("credential page Cache-Control %q", got)
	}
	if got := New(Config{Armed: true, AllowedHosts: []string{"127.0.0.1"}}, echo); serve(got, "GET", "/", "127.0.0.1", nil, nil).Header().Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS without a public https URL")
	}
}

// onlyReader hides a body's length, so the request is streamed (chunked) — D-6.
type onlyReader struct{ io.Reader }

// TestBodyCap is I-82 and D-6: the door's endpoints refuse a body over 64 KiB whether announced
// or streamed; /mcp and the REST mirror keep their own larger cap.
func TestBodyCap(t *testing.T) {
	h := armed(nil)
	big := bytes.Repeat([]byte("a"), 128<<10)
	tests := []struct {
		name, path string
		body       io.Reader
		want       int
	}{
		{"announced over cap", "/register", bytes.NewReader(big), 413},
		{"streamed over cap", "/token", onlyReader{bytes.NewReader(big)}, 413},
		{"exactly the cap", "/register", bytes.NewReader(big[:DoorBodyCap]), 200},
		{"streamed under cap", "/approve", onlyReader{strings.NewReader("txn=a&code=1")}, 200},
		{"mcp keeps its own cap", "/mcp", bytes.NewReader(big), 200},
		{"mcp over its cap", "/mcp", onlyReader{bytes.NewReader(bytes.Repeat(big, 9))}, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, "POST", tt.path, "door.example", map[string]string{"Content-Type": "application/json"}, tt.body)
			if w.Code != tt.want {
				t.Fatalf("%d, want %d", w.Code, tt.want)
			}
			if tt.want == 413 && tt.path != "/mcp" && w.Body.String() != "request entity too large\n" {
				t.Fatalf("body %q", w.Body)
			}
		})
	}
	w := serve(h, "POST", "/register", "door.example", nil, onlyReader{strings.NewReader(`{"a":1}`)})
	if w.Body.String() != `{"a":1}` {
		t.Fatalf("the handler got %q", w.Body)
	}
}

// TestRateLimit is I-83: a sliding window per IP and prefix; refused requests do not count;
// other IPs and prefixes are independent.
func TestRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := armed(clock)
	hit := func(path, ip string) int {
		r := httptest.NewRequest("POST", path, nil)
		r.Host, r.RemoteAddr = "door.example", ip+":5555"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := 0; i < 6; i++ {
		if c := hit("/register", "10.0.0.1"); c != 200 {
			t.Fatalf("register %d: %d", i+1, c)
		}
		advance(time.Second)
	}
	if c := hit("/register", "10.0.0.1"); c != 429 {
		t.Fatalf("7th register within a minute: %d", c)
	}
	if c := hit("/register", "10.0.0.2"); c != 200 {
		t.Fatalf("another IP: %d", c)
	}
	if c := hit("/token", "10.0.0.1"); c != 200 {
		t.Fatalf("another prefix: %d", c)
	}
	if c := hit("/mcp", "10.0.0.1"); c == 429 {
		t.Fatal("/mcp is not rate limited")
	}
	// The first hit was at t0; at t0+60s it leaves the window and one slot opens.
	advance(54 * time.Second)
	if c := hit("/register", "10.0.0.1"); c != 200 {
		t.Fatalf("after the oldest hit left the window: %d", c)
	}
	if c := hit("/register", "10.0.0.1"); c != 429 {
		t.Fatalf("only one slot opened: %d", c)
	}
	for i := 0; i < 12; i++ {
		if c := hit("/approve", "10.0.0.3"); c != 200 {
			t.Fatalf("approve %d: %d", i+1, c)
		}
	}
	r := httptest.NewRequest("POST", "/approve", nil)
	r.Host, r.RemoteAddr = "door.example", "10.0.0.3:1"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 429 || w.Body.String() != "rate limit exceeded — slow down\n" || w.Header().Get("X-Frame-Options") != "DENY" {
		t.Fatalf("13th approve: %d %q %v", w.Code, w.Body, w.Header())
	}
	// The approve page's own 2-second refresh (GET, I-64) is not counted, so a page left open
	// keeps following a console grant; code submissions stay limited.
	for i := 0; i < 40; i++ {
		g := httptest.NewRequest("GET", "/approve?txn=x", nil)
		g.Host, g.RemoteAddr = "door.example", "10.0.0.4:1"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, g)
		if w.Code != 200 {
			t.Fatalf("GET /approve %d: %d", i+1, w.Code)
		}
	}
}

// TestRateLimitSweep: idle keys are swept once the table grows beyond 4096 (I-83).
func TestRateLimitSweep(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(func() time.Time { return now })
	for i := 0; i <= sweepAt; i++ {
		l.allow(http.MethodPost, "/token", "ip-"+string(rune('a'+i%26))+strings.Repeat("x", i/26))
	}
	now = now.Add(2 * time.Minute)
	l.allow(http.MethodPost, "/token", "fresh")
	l.allow(http.MethodPost, "/token", "fresh2")
	if len(l.hits) > 2 {
		t.Fatalf("%d keys after the sweep", len(l.hits))
	}
}
