package main

import (
	"bytes"
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
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// doorNode starts the up graph with the OAuth door armed: http_public_url names the gateway's
// own loopback address, as a local TLS proxy's upstream would.
func doorNode(t *testing.T, tweaks ...func(*Config)) (n *node, base, data string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	data = t.TempDir()
	cfg, err := loadConfig(data, "", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	base = "http://127.0.0.1:" + port
	cfg.Transport, cfg.HTTPPublicURL = "http", base
	for _, tw := range tweaks {
		tw(&cfg)
	}
	n, err = startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nodeOptions{gateway: true, record: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(context.Background()) })
	return n, base, data
}

// browser follows no redirects, so each hop is asserted; from binds the client's source address
// (the per-IP limits of I-83 count the direct peer).
func browser(from string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if from != "" {
		tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return do(t, c, req)
}

func postForm(t *testing.T, c *http.Client, u string, v url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, c, req)
}

// connector is one remote client's registration and PKCE state.
type connector struct {
	conf     oauth2.Config
	verifier string
}

const redirectURI = "http://127.0.0.1:9/callback"

func register(t *testing.T, base, name string) *connector {
	t.Helper()
	reg, err := oauthex.RegisterClient(context.Background(), base+"/register", &oauthex.ClientRegistrationMetadata{
		RedirectURIs: []string{redirectURI}, ClientName: name, TokenEndpointAuthMethod: "none",
	}, http.DefaultClient)
	if err != nil {
		t.Fatalf("register %q: %v", name, err)
	}
	if reg.ClientID == "" || reg.ClientSecret != "" {
		t.Fatalf("registration of a public client: %+v", reg)
	}
	return &connector{verifier: oauth2.GenerateVerifier(), conf: oauth2.Config{
		ClientID: reg.ClientID, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: base + "/authorize", TokenURL: base + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}}
}

// authorize runs /authorize and returns the approve page URL and its txn (I-63).
func (c *connector) authorize(t *testing.T, hc *http.Client, base, state string) (string, string) {
	t.Helper()
	u := c.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(c.verifier), oauth2.SetAuthURLParam("resource", base+"/mcp"))
	resp, body := get(t, hc, u)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/approve?txn=") {
		t.Fatalf("authorize: %d %q %s", resp.StatusCode, loc, body)
	}
	return base + loc, strings.TrimPrefix(loc, "/approve?txn=")
}

// codeFrom checks a final redirect to the client (I-66) and returns its code.
func codeFrom(t *testing.T, loc, state, issuer string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, redirectURI+"?") || u.Query().Get("state") != state || u.Query().Get("code") == "" ||
		u.Query().Get("iss") != issuer { // RFC 9207: the response names its issuer
		t.Fatalf("redirect to the client: %q", loc)
	}
	return u.Query().Get("code")
}

func detail(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDoor_SC17 walks SC-17 with real HTTP clients against the up graph: discovery (I-60) →
// 401 with the challenge (I-61) → registration (I-62) → authorize (I-63) → the approve page
// naming the client and its exact redirect URI (I-64) → a wrong code refused (I-65) → the right
// code through the airlock → 302 → PKCE exchange (I-67) → the bearer lists tools over
// MCP (I-70) and REST (I-53) → refresh revokes the old pair (I-69); the same TOTP window is
// refused for a second connector (A-72, D-5), which the console then approves while its page
// polls (I-66, O-oauth-1).
func TestDoor_SC17(t *testing.T) {
	n, base, data := doorNode(t)
	ctx := context.Background()
	hc := browser("")

	// I-60 discovery.
	resp, body := get(t, hc, base+"/.well-known/oauth-protected-resource/mcp")
	var prm oauthex.ProtectedResourceMetadata
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &prm) != nil || prm.Resource != base+"/mcp" ||
		len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != base {
		t.Fatalf("protected resource metadata: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, hc, base+"/.well-known/oauth-authorization-server")
	var asm oauthex.AuthServerMeta
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &asm) != nil || asm.Issuer != base ||
		asm.AuthorizationEndpoint != base+"/authorize" || asm.TokenEndpoint != base+"/token" || asm.RegistrationEndpoint != base+"/register" ||
		strings.Join(asm.ResponseTypesSupported, ",") != "code" || strings.Join(asm.GrantTypesSupported, ",") != "authorization_code,refresh_token" ||
		strings.Join(asm.CodeChallengeMethodsSupported, ",") != "S256" {
		t.Fatalf("authorization server metadata: %d %s", resp.StatusCode, body)
	}

	// I-61: no bearer, no MCP; I-53: nor REST.
	req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, _ = do(t, hc, req)
	want := `Bearer error="invalid_token", resource_metadata="` + base + `/.well-known/oauth-protected-resource/mcp"`
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("/mcp without a bearer: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := get(t, hc, base+"/api/v1/tools"); resp.StatusCode != 401 {
		t.Fatalf("/api/v1 without a bearer: %d", resp.StatusCode)
	}

	// I-62, I-63, I-64.
	c1 := register(t, base, `Claude <"web">`)
	if rows := auditRows(t, n, "oauth_client_registered"); len(rows) != 1 || detail(t, rows[0].Detail)["client_id"] != c1.conf.ClientID {
		t.Fatalf("oauth_client_registered rows: %+v", rows)
	}
	page, txn := c1.authorize(t, hc, base, "st-1")
	resp, body = get(t, hc, page)
	for _, s := range []string{"Approve a connector", "Claude &lt;&#34;web&#34;&gt;", "<code>" + redirectURI + "</code>", "authenticator",
		"console", "close this page", `name="txn" value="` + txn + `"`, `name="code"`, `http-equiv="refresh" content="2"`} {
		if !strings.Contains(body, s) {
			t.Fatalf("approve page lacks %q:\n%s", s, body)
		}
	}
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Frame-Options") != "DENY" ||
		resp.Header.Get("Content-Security-Policy") != "default-src 'none'; form-action 'self'; base-uri 'none'" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("approve page: %d %v", resp.StatusCode, resp.Header)
	}

	// I-65 through the airlock: wrong, then right.
	if code, _, stderr := admin(t, "--data", data, "totp-provision"); code != 0 {
		t.Fatal(stderr)
	}
	resp, body = postForm(t, hc, base+"/approve", url.Values{"txn": {txn}, "code": {"000000"}})
	if resp.StatusCode != 401 || !strings.Contains(body, "refused") || !strings.Contains(body, "4 attempt") || strings.Contains(body, `http-equiv="refresh"`) {
		t.Fatalf("wrong code: %d %s", resp.StatusCode, body)
	}
	good := totpNow(t, n.cfg.AirlockSecret)
	resp, _ = postForm(t, hc, base+"/approve", url.Values{"txn": {txn}, "code": {good}})
	if resp.StatusCode != 302 {
		t.Fatalf("right code: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	code := codeFrom(t, loc, "st-1", base)
	if resp, _ := get(t, hc, page); resp.StatusCode != 302 || resp.Header.Get("Location") != loc {
		t.Fatalf("approved page again: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	approvals := auditRows(t, n, "oauth_approve")
	if len(approvals) != 1 || detail(t, approvals[0].Detail)["channel"] != "totp" || detail(t, approvals[0].Detail)["client_id"] != c1.conf.ClientID {
		t.Fatalf("oauth_approve rows: %+v", approvals)
	}

	// I-67, I-68: PKCE exchange; the code is single use.
	tok, err := c1.conf.Exchange(ctx, code, oauth2.VerifierOption(c1.verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Extra("expires_in") != float64(86400) {
		t.Fatalf("token response: %+v", tok)
	}
	if _, err := c1.conf.Exchange(ctx, code, oauth2.VerifierOption(c1.verifier)); err == nil {
		t.Fatal("a used code was exchanged again")
	}

	// I-70: the bearer lists tools over MCP (the SDK client with a bearer-adding HTTP client)
	// and over REST.
	mc := mcp.NewClient(&mcp.Implementation{Name: "connector", Version: "1"}, nil)
	sess, err := mc.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: c1.conf.Client(ctx, tok)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := sess.ListTools(ctx, nil)
	sess.Close()
	if err != nil || len(tools.Tools) < 20 {
		t.Fatalf("tools over the door: %v %v", tools, err)
	}
	req, _ = http.NewRequest("GET", base+"/api/v1/tools", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, _ := do(t, hc, req); resp.StatusCode != 200 {
		t.Fatalf("REST with the bearer: %d", resp.StatusCode)
	}

	// I-69: refresh mints a new pair and revokes the old one.
	expired := *tok
	expired.Expiry = expired.Expiry.Add(-48 * 3600e9)
	fresh, err := c1.conf.TokenSource(ctx, &expired).Token()
	if err != nil || fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %+v %v", fresh, err)
	}
	if resp, _ := do(t, hc, req); resp.StatusCode != 401 {
		t.Fatalf("the refreshed-away access token still works: %d", resp.StatusCode)
	}

	// A-72, D-5: the window that approved one connector cannot approve another.
	c2 := register(t, base, "Second")
	page2, txn2 := c2.authorize(t, hc, base, "st-2")
	resp, body = postForm(t, hc, base+"/approve", url.Values{"txn": {txn2}, "code": {good}})
	if resp.StatusCode != 401 || !strings.Contains(body, "refused") {
		t.Fatalf("replayed window: %d %s", resp.StatusCode, body)
	}
	consumed := false
	for _, r := range auditRows(t, n, "oauth_totp_reject") {
		consumed = consumed || detail(t, r.Detail)["reason"] == "window already consumed"
	}
	if !consumed {
		t.Fatal("no oauth_totp_reject row for the consumed window")
	}

	// O-oauth-1, I-66: console grant; the polling page follows it.
	codeP, pend, stderr := admin(t, "--data", data, "oauth", "pending")
	list, _ := pend["pending"].([]any)
	found := false
	for _, p := range list {
		m := p.(map[string]any)
		found = found || (m["txn"] == txn2 && m["client_name"] == "Second" && m["client_id"] == c2.conf.ClientID)
	}
	if codeP != 0 || !found {
		t.Fatalf("oauth pending: %d %v %s", codeP, pend, stderr)
	}
	if code, _, stderr := admin(t, "--data", data, "oauth", "approve", txn2, "--confirm", "Claude"); code != 1 || !strings.Contains(stderr, "nothing approved") {
		t.Fatalf("approve with the wrong name: %d %s", code, stderr)
	}
	if resp, _ := get(t, hc, page2); resp.StatusCode != 200 {
		t.Fatalf("page after a refused console approval: %d", resp.StatusCode)
	}
	if code, res, stderr := admin(t, "--data", data, "oauth", "approve", txn2, "--confirm", "Second"); code != 0 || res["approved"] != txn2 || res["channel"] != "console" {
		t.Fatalf("console approve: %d %v %s", code, res, stderr)
	}
	resp, _ = get(t, hc, page2)
	if resp.StatusCode != 302 {
		t.Fatalf("polling page after the console grant: %d", resp.StatusCode)
	}
	code2 := codeFrom(t, resp.Header.Get("Location"), "st-2", base)
	if _, err := c2.conf.Exchange(ctx, code2, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("exchange with the wrong PKCE verifier: %v", err)
	}
	console := false
	for _, r := range auditRows(t, n, "oauth_approve") {
		d := detail(t, r.Detail)
		console = console || (d["channel"] == "console" && d["client_id"] == c2.conf.ClientID && str(r.Actor) == "practitioner")
	}
	if !console {
		t.Fatal("no console oauth_approve row")
	}
	if st, err := os.Stat(filepath.Join(filepath.Dir(n.cfg.AuditDB), "auth.sqlite")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("auth store: %v %v (I-71: 0600)", st, err)
	}
}

// TestDoor_Perimeter: 4 wrong codes answer 401, the 5th burns the transaction (429) and the
// page is then gone (400); ten concurrent wrong codes get five checked (I-65, I-85); a bad Host is 421 on /register (I-81); 128 KiB is 413
// announced or chunked (I-82, D-6); rejections carry the security headers (I-84).
func TestDoor_Perimeter(t *testing.T) {
	n, base, data := doorNode(t)
	if code, _, stderr := admin(t, "--data", data, "totp-provision"); code != 0 {
		t.Fatal(stderr)
	}
	// Another loopback source address: the burn, not the per-IP limit, must answer.
	hc := browser("127.0.0.2")
	c := register(t, base, "burner")
	page, txn := c.authorize(t, hc, base, "st")
	// The page's own 2-second refresh is a GET and never counted (I-83 counts POSTs): more than
	// the limit of 12 leaves every code submission below answered by the burn, not a 429.
	for i := range 15 {
		if resp, _ := get(t, hc, page); resp.StatusCode != 200 {
			t.Fatalf("page refresh %d: %d", i+1, resp.StatusCode)
		}
	}
	for left := 4; left >= 1; left-- {
		resp, body := postForm(t, hc, base+"/approve", url.Values{"txn": {txn}, "code": {"000001"}})
		if resp.StatusCode != 401 || !strings.Contains(body, "refused") || !strings.Contains(body, strconv.Itoa(left)+" attempt") {
			t.Fatalf("wrong code with %d left: %d %s", left, resp.StatusCode, body)
		}
	}
	resp, body := postForm(t, hc, base+"/approve", url.Values{"txn": {txn}, "code": {"000001"}})
	if resp.StatusCode != 429 || !strings.Contains(body, "closed") {
		t.Fatalf("fifth wrong code: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, hc, page); resp.StatusCode != 400 || !strings.Contains(body, "expired") {
		t.Fatalf("burned page: %d %s", resp.StatusCode, body)
	}
	burned := auditRows(t, n, "oauth_txn_burned")
	if len(burned) != 1 || detail(t, burned[0].Detail)["misses"] != float64(5) || str(burned[0].Actor) != "system" {
		t.Fatalf("oauth_txn_burned rows: %+v", burned)
	}

	// Concurrent wrong codes on one transaction: each attempt is reserved before the airlock
	// checks its code, so of ten at once the airlock checks exactly five (I-65, I-85).
	rejectsBefore := len(auditRows(t, n, "oauth_totp_reject"))
	hc3 := browser("127.0.0.3")
	_, txn3 := c.authorize(t, hc3, base, "st-3")
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		wg       sync.WaitGroup
	)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := postForm(t, hc3, base+"/approve", url.Values{"txn": {txn3}, "code": {"000001"}})
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[401] != 4 || statuses[401]+statuses[429]+statuses[400] != 10 {
		t.Fatalf("ten concurrent wrong codes answered %v, want four 401 and the rest 429 or 400", statuses)
	}
	if got := len(auditRows(t, n, "oauth_totp_reject")) - rejectsBefore; got != 5 {
		t.Fatalf("the airlock checked %d of ten concurrent codes, want 5", got)
	}
	if burned := auditRows(t, n, "oauth_txn_burned"); len(burned) != 2 {
		t.Fatalf("oauth_txn_burned rows after the concurrent burn: %d, want 2", len(burned))
	}

	big := bytes.Repeat([]byte("x"), 128<<10)
	tests := []struct {
		name string
		host string
		body io.Reader
		want int
		text string
	}{
		{"bad host", "evil.example", strings.NewReader(`{}`), 421, "host not allowed"},
		{"oversize announced", "", bytes.NewReader(big), 413, "request entity too large"},
		{"oversize chunked", "", struct{ io.Reader }{bytes.NewReader(big)}, 413, "request entity too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", base+"/register", tt.body)
			if tt.host != "" {
				req.Host = tt.host
			}
			req.Header.Set("Content-Type", "application/json")
			resp, body := do(t, http.DefaultClient, req)
			if resp.StatusCode != tt.want || strings.TrimSpace(body) != tt.text || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
				resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
			}
		})
	}
}

// TestDoor_Unarmed: without http_public_url there is no door — /mcp answers on loopback with no
// token (identity.md §5's regression guard) and the discovery documents do not exist — while
// the DNS-rebinding guard still refuses a foreign Host on /mcp (I-51, SC-18).
func TestDoor_Unarmed(t *testing.T) {
	n := testNode(t)
	res, err := mcpSession(t, n).ListTools(context.Background(), nil)
	if err != nil || len(res.Tools) < 20 {
		t.Fatalf("open /mcp: %v %v", res, err)
	}
	if resp, _ := get(t, http.DefaultClient, "http://"+n.gw.Addr()+"/.well-known/oauth-authorization-server"); resp.StatusCode != 404 {
		t.Fatalf("discovery without a door: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", "http://"+n.gw.Addr()+"/mcp", strings.NewReader(`{}`))
	req.Host = "rebound.example"
	if resp, _ := do(t, http.DefaultClient, req); resp.StatusCode != 421 {
		t.Fatalf("foreign Host on /mcp: %d", resp.StatusCode)
	}
}
