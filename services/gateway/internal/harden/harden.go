// Package harden is the gateway's HTTP perimeter (identity.md §4 I-51 and §6): one guard for
// both agent surfaces, /mcp and the REST mirror, in every mode (D-41) — the Host allowlist (421),
// foreign Origins (403) and JSON-only POST bodies (415) — and, when the OAuth door is armed, the
// I-81 Host allowlist over every route, the body cap (announced or streamed, D-6), per-IP
// sliding-window rate limits on the door's endpoints and the security headers. It decides only
// from the request; it holds no state beyond the rate-limit table.
package harden

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DoorBodyCap is I-82's cap on the door's endpoints.
const DoorBodyCap = 65536

// Config configures the perimeter.
type Config struct {
	// Armed is true when the OAuth door is armed (http_public_url set): §6 applies.
	Armed bool
	// BindHost is http_host (I-51). The loopback names (127.0.0.1, localhost, [::1]) are
	// allowed Hosts and Origins only while it is a loopback address or localhost: a listener on
	// a Tailscale address is never reached by those names except through a forged header or a
	// proxy, which must then be listed in AllowedHosts (issue 13, stricter than I-51).
	BindHost string
	// AllowedHosts is http_allowed_hosts, the public URL's host included (O-config-20).
	AllowedHosts []string
	// AppBodyCap caps bodies of /mcp and the REST mirror, whose own handlers enforce
	// max_body_bytes with a precise refusal (D-37); the perimeter only backstops it.
	AppBodyCap int64
	// HSTS adds Strict-Transport-Security (the public URL is https).
	HSTS bool
	// Now is the clock of the rate limits (tests inject it).
	Now func() time.Time
}

// Limit is one row of I-83's table.
type Limit struct {
	Prefix string
	N      int
	Window time.Duration
	// Method, when set, is the only method the row counts.
	Method string
}

// Limits is I-83's table, first matching prefix only. Deviation: the /approve row counts
// POSTs (code submissions) only. The approve page refreshes itself every 2 s (I-64) to follow a
// console grant, so counting its GETs would lock the practitioner's own page out after 24 s;
// a GET verifies no code, and the POST axis stays bounded here and by the per-txn burn (I-65).
var Limits = []Limit{
	{"/approve", 12, time.Minute, http.MethodPost},
	{"/register", 6, time.Minute, ""},
	{"/authorize", 30, time.Minute, ""},
	{"/token", 30, time.Minute, ""},
}

// doorPaths are the credential channel's endpoints: I-82's cap, no-store.
var doorPaths = []string{"/approve", "/register", "/authorize", "/token", "/revoke", "/.well-known/"}

func isDoorPath(p string) bool {
	for _, d := range doorPaths {
		if p == d || strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

// Handler wraps next in the perimeter.
type Handler struct {
	cfg      Config
	next     http.Handler
	hosts    hostList // I-51: loopback names (loopback listener only), the bind host, the allowed hosts
	extra    hostList // I-51's extra hosts (https origins allowed) and I-81's list
	loopback bool     // the listener is loopback: loopback names and http://loopback origins pass
	lim      *limiter
}

// New wraps next (I-80: Host check → body cap → rate limit → application; headers on every
// response, rejections included).
func New(cfg Config, next http.Handler) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, next: next, lim: newLimiter(cfg.Now)}
	for _, e := range cfg.AllowedHosts {
		h.extra = append(h.extra, parseEntry(e))
	}
	b := parseEntry(cfg.BindHost)
	h.loopback = isLoopback(b.host)
	if h.loopback {
		h.hosts = hostList{{host: "127.0.0.1"}, {host: "localhost"}, {host: "::1"}}
	}
	if b.host != "" && !h.hosts.match(b.host, "") {
		h.hosts = append(h.hosts, entry{host: b.host})
		h.extra = append(h.extra, entry{host: b.host})
	}
	h.hosts = append(h.hosts, h.extra...)
	return h
}

// isLoopback reports whether a bind host is localhost or a loopback IP literal.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	door := isDoorPath(r.URL.Path)
	if h.cfg.Armed {
		h.headers(w.Header(), door)
	}
	host, port := splitHost(r.Host)
	if h.cfg.Armed && r.Host != "" && !h.extra.match(host, port) { // I-81
		reject(w, http.StatusMisdirectedRequest, "host not allowed")
		return
	}
	// I-51 and D-41: /mcp, the REST mirror and the health and ops routes take the same guard
	// in every mode, so no web page can reach them by DNS rebinding or a cross-site request
	// (the MCP transport spec makes Origin validation a MUST for this reason). The armed door's
	// own pages are I-81's alone: a browser posts forms to them from the public origin.
	if !h.cfg.Armed || !door {
		if !h.hosts.match(host, port) {
			reject(w, http.StatusMisdirectedRequest, "host not allowed")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !h.originAllowed(o) {
			reject(w, http.StatusForbidden, "origin not allowed")
			return
		}
		// A JSON body only: a cross-site form or text/plain POST needs no CORS preflight, so
		// a page could otherwise write as a seat without ever reading the answer.
		if r.Method == http.MethodPost && !isJSON(r.Header.Get("Content-Type")) {
			reject(w, http.StatusUnsupportedMediaType, "content type must be application/json")
			return
		}
	}
	if h.cfg.Armed {
		limit := int64(DoorBodyCap)
		if !door && h.cfg.AppBodyCap > 0 {
			limit = h.cfg.AppBodyCap
		}
		if !capBody(w, r, limit, door) { // I-82, D-6
			reject(w, http.StatusRequestEntityTooLarge, "request entity too large")
			return
		}
		if !h.lim.allow(r.Method, r.URL.Path, peerIP(r.RemoteAddr)) { // I-83
			reject(w, http.StatusTooManyRequests, "rate limit exceeded — slow down")
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

// headers is I-84 (set before the application writes, so what it sets wins), plus no-store on
// the credential pages: codes, tokens and secrets must never sit in a cache.
func (h *Handler) headers(hd http.Header, door bool) {
	set := func(k, v string) {
		if hd.Get(k) == "" {
			hd.Set(k, v)
		}
	}
	set("Content-Security-Policy", "default-src 'none'; form-action 'self'; base-uri 'none'")
	set("X-Content-Type-Options", "nosniff")
	set("Referrer-Policy", "no-referrer")
	set("X-Frame-Options", "DENY")
	if h.cfg.HSTS {
		set("Strict-Transport-Security", "max-age=63072000")
	}
	if door {
		set("Cache-Control", "no-store")
	}
}

// capBody refuses a body over limit. On the door's endpoints the body is read here, whole, so a
// streamed (chunked) body over the cap is refused before any handler runs; elsewhere a
// MaxBytesReader backstops the handler's own cap.
func capBody(w http.ResponseWriter, r *http.Request, limit int64, readNow bool) bool {
	if r.ContentLength > limit {
		return false
	}
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	if !readNow {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		return true
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		// A broken body is the handler's to refuse as malformed; hand it what arrived.
		r.ContentLength = int64(len(b))
	}
	return true
}

func reject(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Connection", "close")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}

// isJSON reports whether a Content-Type names application/json (parameters such as charset
// allowed).
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// originAllowed is I-51: http:// loopback origins on any port while the listener is loopback;
// http(s):// origins of the extra hosts.
func (h *Handler) originAllowed(o string) bool {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	host, port := splitHost(u.Host)
	switch u.Scheme {
	case "http":
		return h.loopback && isLoopbackName(host) || h.extra.match(host, port)
	case "https":
		return h.extra.match(host, port)
	}
	return false
}

func isLoopbackName(h string) bool { return h == "127.0.0.1" || h == "localhost" || h == "::1" }

// entry is one allowed host; an empty port matches any port or none (D-7).
type entry struct{ host, port string }

type hostList []entry

func (l hostList) match(host, port string) bool {
	for _, e := range l {
		if e.host == host && (e.port == "" || e.port == port) {
			return true
		}
	}
	return false
}

func parseEntry(s string) entry {
	h, p := splitHost(strings.TrimSpace(s))
	return entry{host: h, port: p}
}

// splitHost lowercases a Host value and splits off its port; IPv6 literals lose their brackets.
func splitHost(hp string) (host, port string) {
	hp = strings.ToLower(hp)
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return strings.TrimSuffix(h, "."), p
	}
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), "."), ""
}

// peerIP is the direct peer (I-83): behind a local TLS proxy every client shares its address.
func peerIP(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// limiter is I-83's sliding window: a request is allowed when fewer than N allowed requests from
// its IP fall inside the window; refused requests are not counted. It is a log of hit times per
// key rather than golang.org/x/time/rate's token bucket, whose refill would admit more than N
// in a window. Safe for concurrent use.
type limiter struct {
	now  func() time.Time
	mu   sync.Mutex
	hits map[limitKey][]time.Time
}

type limitKey struct{ prefix, ip string }

// sweepAt is I-83's table size beyond which idle keys are swept.
const sweepAt = 4096

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, hits: map[limitKey][]time.Time{}}
}

func (l *limiter) allow(method, path, ip string) bool {
	var lim *Limit
	for i := range Limits {
		if strings.HasPrefix(path, Limits[i].Prefix) {
			lim = &Limits[i]
			break
		}
	}
	if lim == nil || lim.Method != "" && lim.Method != method {
		return true
	}
	now := l.now()
	cut := now.Add(-lim.Window)
	l.mu.Lock()
	defer l.mu.Unlock()
	k := limitKey{lim.Prefix, ip}
	hs := live(l.hits[k], cut)
	if len(hs) >= lim.N {
		l.hits[k] = hs
		return false
	}
	l.hits[k] = append(hs, now)
	if len(l.hits) > sweepAt {
		for k, hs := range l.hits {
			if len(live(hs, now.Add(-windowOf(k.prefix)))) == 0 {
				delete(l.hits, k)
			}
		}
	}
	return true
}

// live drops the hits at or before cut (hits are in time order).
func live(hs []time.Time, cut time.Time) []time.Time {
	i := 0
	for i < len(hs) && !hs[i].After(cut) {
		i++
	}
	return hs[i:]
}

func windowOf(prefix string) time.Duration {
	for _, l := range Limits {
		if l.Prefix == prefix {
			return l.Window
		}
	}
	return time.Minute
}
