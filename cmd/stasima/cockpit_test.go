package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/stasima/stasima/cmd/stasima/internal/cockpit"
	"github.com/stasima/stasima/pkg/busclient"
)

// cockpitRig is a cockpit served over the admin's bus connection to a running up node, as
// `stasima admin cockpit` serves it, and a browser-like client that has redeemed its token.
type cockpitRig struct {
	n     *node
	data  string
	s     *mcp.ClientSession
	base  string
	start string
	hc    *http.Client
}

// startCockpit serves a cockpit for n's data dir on a loopback port until the test ends.
func startCockpit(t testing.TB, n *node) (base, start string) {
	t.Helper()
	ln, err := cockpit.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		_, err := withBackend(ctx, n.cfg, func(c *busclient.Client) (any, error) {
			srv, err := cockpit.New(cockpit.Config{CanonRef: n.cfg.CanonRef, BusPrefix: n.cfg.BusPrefix, Approver: n.cfg.Approvers[0]},
				c, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				return nil, err
			}
			srv.SetAddr(ln.Addr())
			ready <- srv.StartURL(ln.Addr())
			return nil, srv.Serve(ctx, ln)
		})
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("cockpit: %v", err)
		}
	})
	select {
	case start = <-ready:
	case err := <-done:
		t.Fatalf("cockpit did not start: %v", err)
	}
	return "http://" + ln.Addr().String(), start
}

func newCockpitRig(t *testing.T) *cockpitRig {
	t.Helper()
	n, data := bootNode(t)
	base, start := startCockpit(t, n)
	jar, _ := cookiejar.New(nil)
	rig := &cockpitRig{n: n, data: data, s: mcpSession(t, n), base: base, start: start, hc: &http.Client{Jar: jar}}
	resp, body := rig.get(t, start)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/proposals" || resp.Request.URL.RawQuery != "" {
		t.Fatalf("start URL: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	return rig
}

func (r *cockpitRig) get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	return r.do(t, mustRequest(t, http.MethodGet, u, nil))
}

func (r *cockpitRig) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := r.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func mustRequest(t *testing.T, method, u string, form url.Values) *http.Request {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// post submits a form of the page at from with that page's CSRF token.
func (r *cockpitRig) post(t *testing.T, from, action string, form url.Values) (*http.Response, string) {
	t.Helper()
	_, page := r.get(t, r.base+from)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on %s:\n%s", from, page)
	}
	form.Set("csrf", m[1])
	req := mustRequest(t, http.MethodPost, r.base+action, form)
	req.Header.Set("Origin", r.base)
	return r.do(t, req)
}

// proposeReady has Recto propose id with one practice entry of body and its log entry.
func (r *cockpitRig) proposeReady(t *testing.T, id, slug, body, seq string) {
	t.Helper()
	mustCall(t, r.s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": id, "domain": "practice", "slug": slug,
		"body": body, "op_id": id + "-1"})
	if _, e := proposeLog(t, r.s, "Recto", id, seq, "Landing "+id+" from the cockpit."); e != "" {
		t.Fatal(e)
	}
}

// TestCockpit_Auth: the start token becomes an HttpOnly, SameSite=Strict session cookie and is
// stripped from the address; it works once; no cookie, a foreign Host or a foreign Origin is
// refused; a POST without the session's CSRF token is refused and changes nothing.
func TestCockpit_Auth(t *testing.T) {
	n, _ := bootNode(t)
	base, start := startCockpit(t, n)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := noFollow.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" ||
		!strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Fatalf("redeem: %d location %q cookie %q", resp.StatusCode, resp.Header.Get("Location"), cookie)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP: %q", csp)
	}
	sess := resp.Cookies()[0]

	tests := []struct {
		name   string
		url    string
		host   string
		origin string
		cookie bool
		want   int
	}{
		{"replayed token", start, "", "", false, http.StatusForbidden},
		{"wrong token", base + "/?token=00", "", "", false, http.StatusForbidden},
		{"missing token", base + "/proposals", "", "", false, http.StatusUnauthorized},
		{"seats without session", base + "/seats", "", "", false, http.StatusUnauthorized},
		{"search without session", base + "/search?q=x", "", "", false, http.StatusUnauthorized},
		{"entry without session", base + "/entry?ref=canon&path=meta/charter.md", "", "", false, http.StatusUnauthorized},
		{"search from a foreign origin", base + "/search?q=x", "", "http://evil.example", true, http.StatusForbidden},
		{"session", base + "/proposals", "", "", true, http.StatusOK},
		{"foreign host", base + "/proposals", "evil.example:8788", "", true, http.StatusMisdirectedRequest},
		{"foreign origin", base + "/proposals", "", "http://evil.example", true, http.StatusForbidden},
		{"static without session", base + "/static/cockpit.css", "", "", false, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustRequest(t, http.MethodGet, tt.url, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.cookie {
				req.AddCookie(sess)
			}
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}

	// A state-changing POST without the CSRF token, or from a foreign origin with it, changes
	// nothing.
	s := mcpSession(t, n)
	reconcile(t, s, "Recto")
	mustCall(t, s, "propose", map[string]any{"instance_id": "Recto", "proposal_id": "p-csrf", "domain": "practice", "slug": "c", "body": "c", "op_id": "pc-1"})
	for _, tt := range []struct {
		name, csrf, origin string
	}{
		{"no csrf", "", base},
		{"wrong csrf", strings.Repeat("0", 64), base},
	} {
		req := mustRequest(t, http.MethodPost, base+"/proposals/p-csrf/close", url.Values{"reason": {"x"}, "csrf": {tt.csrf}})
		req.Header.Set("Origin", tt.origin)
		req.AddCookie(sess)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "CSRF") {
			t.Fatalf("%s: %d %s", tt.name, resp.StatusCode, b)
		}
	}
	if lp := mustCall(t, s, "list_proposals", nil); lp["statuses"].(map[string]any)["p-csrf"].(map[string]any)["status"] != "open" {
		t.Fatalf("a refused POST closed the proposal: %v", lp)
	}
	// Only loopback addresses are served.
	if _, err := cockpit.Listen("0.0.0.0:0"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback listen: %v", err)
	}
}

// TestCockpit_ReviewAndLand: the proposals page lists an open proposal with its creator and
// entry count; its page shows the rendered entries (scripts and javascript: links inert), the
// diff and the merge preview; a land with the wrong confirmation changes nothing; the typed id
// lands it and shows the land_merge row; canon's seq advances and the audit page has the row.
func TestCockpit_ReviewAndLand(t *testing.T) {
	r := newCockpitRig(t)
	reconcile(t, r.s, "Recto")
	hostile := "# Heading\n\n<script>alert(1)</script>\n\n[click](javascript:alert(2)) and [ok](https://example.org/)\n\n" +
		"![tracker](https://evil.example/pixel.png)\n\n<img src=x onerror=alert(3)>\n"
	r.proposeReady(t, "p-cock", "cock", hostile, "3c")

	_, list := r.get(t, r.base+"/proposals?status=open")
	for _, want := range []string{`data-proposal="p-cock"`, `<td class="creator">Recto</td>`, `<td class="entries">2</td>`} {
		if !strings.Contains(list, want) {
			t.Fatalf("proposals page lacks %q:\n%s", want, list)
		}
	}
	if _, filtered := r.get(t, r.base+"/proposals?status=landed"); strings.Contains(filtered, `data-proposal="p-cock"`) {
		t.Fatal("the landed filter lists an open proposal")
	}
	if resp, _ := r.get(t, r.base+"/proposals?status=bogus"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bogus status filter: %d", resp.StatusCode)
	}

	resp, pg := r.get(t, r.base+"/proposals/p-cock")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("proposal page: %d\n%s", resp.StatusCode, pg)
	}
	for _, want := range []string{"<h1>Heading</h1>", `href="#unsafe-link"`, `href="https://example.org/"`, "[image: tracker",
		`<span class="good">meta/log/3c.md</span>`, `id="expected-seq">::3C<`, `<span class="dadd">&#43; # Heading</span>`, "practice/cock.md"} {
		if !strings.Contains(pg, want) {
			t.Fatalf("proposal page lacks %q:\n%s", want, pg)
		}
	}
	for _, bad := range []string{"<script>alert", `href="javascript:`, `src="https://evil.example`, "<img"} {
		if strings.Contains(pg, bad) {
			t.Fatalf("proposal page carries %q live:\n%s", bad, pg)
		}
	}

	seqBefore := mustCall(t, r.s, "canon_state", nil)["canon_tip"]
	resp, pg = r.post(t, "/proposals/p-cock", "/proposals/p-cock/land", url.Values{"confirm": {"p-coc"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(pg, "is not the proposal id") {
		t.Fatalf("land with a wrong confirmation: %d\n%s", resp.StatusCode, pg)
	}
	if mustCall(t, r.s, "canon_state", nil)["canon_tip"] != seqBefore {
		t.Fatal("a wrong confirmation landed")
	}
	resp, pg = r.post(t, "/proposals/p-cock", "/proposals/p-cock/land", url.Values{"confirm": {"p-cock"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(pg, "Landed p-cock") || !strings.Contains(pg, `<td class="op">land_merge</td>`) ||
		!strings.Contains(pg, "::3C") || !strings.Contains(pg, "cockpit-confirm") {
		t.Fatalf("land: %d\n%s", resp.StatusCode, pg)
	}
	if st := mustCall(t, r.s, "canon_state", nil); st["canon_tip"] == seqBefore {
		t.Fatalf("canon did not move: %v", st)
	}
	_, list = r.get(t, r.base+"/proposals?status=landed")
	// Every commit of a landed proposal is on canon: no creator (C-prop-4), no entry count.
	if !strings.Contains(list, `data-proposal="p-cock"`) || !strings.Contains(list, `<td class="creator"></td>`) ||
		!strings.Contains(list, `<td class="entries">—</td>`) {
		t.Fatalf("landed filter lacks p-cock:\n%s", list)
	}
	_, audit := r.get(t, r.base+"/audit?op=land_merge")
	if !strings.Contains(audit, `data-op="land_merge"`) || !strings.Contains(audit, `<span class="good">verifies</span>`) {
		t.Fatalf("audit page:\n%s", audit)
	}
	m := regexp.MustCompile(`<a href="/audit/(\d+)">`).FindStringSubmatch(audit)
	if m == nil {
		t.Fatalf("no row link:\n%s", audit)
	}
	if resp, row := r.get(t, r.base+"/audit/"+m[1]); resp.StatusCode != http.StatusOK || !strings.Contains(row, "refs/cap/proposals/p-cock") {
		t.Fatalf("audit row %s: %d\n%s", m[1], resp.StatusCode, row)
	}
	if resp, _ := r.get(t, r.base+"/audit/999999"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("missing audit row: %d", resp.StatusCode)
	}
	if _, none := r.get(t, r.base+"/audit?op=land_merge&seat=nobody"); strings.Contains(none, `data-op="land_merge"`) {
		t.Fatal("seat filter ignored")
	}
}

// TestCockpit_CloseAndInbox: closing needs a reason and shows the propose_close row; the
// practitioner's message appears unread and marking it read shows the read_receipt row.
func TestCockpit_CloseAndInbox(t *testing.T) {
	r := newCockpitRig(t)
	reconcile(t, r.s, "Recto")
	r.proposeReady(t, "p-shut", "shut", "to be closed", "3c")
	if resp, pg := r.post(t, "/proposals/p-shut", "/proposals/p-shut/close", url.Values{"reason": {"  "}}); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(pg, "a reason is required") {
		t.Fatalf("close without a reason: %d\n%s", resp.StatusCode, pg)
	}
	resp, pg := r.post(t, "/proposals/p-shut", "/proposals/p-shut/close", url.Values{"reason": {"superseded by p-next"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(pg, "Closed p-shut") || !strings.Contains(pg, `<td class="op">propose_close</td>`) ||
		!strings.Contains(pg, "superseded by p-next") {
		t.Fatalf("close: %d\n%s", resp.StatusCode, pg)
	}
	if _, list := r.get(t, r.base+"/proposals?status=closed"); !strings.Contains(list, `data-proposal="p-shut"`) {
		t.Fatalf("closed filter:\n%s", list)
	}
	if resp, pg := r.get(t, r.base+"/proposals/nope"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("missing proposal: %d\n%s", resp.StatusCode, pg)
	}

	mustCall(t, r.s, "imp_send", map[string]any{"instance_id": "Recto", "recipients": []string{"practitioner"}, "subject": "please <b>land</b>",
		"body": "p-1 is ready.", "op_id": "to-prac"})
	_, inbox := r.get(t, r.base+"/inbox")
	if !strings.Contains(inbox, `<tr class="unread">`) || !strings.Contains(inbox, "please &lt;b&gt;land&lt;/b&gt;") {
		t.Fatalf("inbox:\n%s", inbox)
	}
	// The seats page counts the practitioner's frontier as imp_flags does (S-43).
	if _, seats := r.get(t, r.base+"/seats"); !strings.Contains(seats, `<td class="unread"><strong>1</strong> <span class="muted">from Recto </span></td>`) {
		t.Fatalf("seats before read:\n%s", seats)
	}
	resp, pg = r.post(t, "/inbox", "/inbox/read", url.Values{"path": {"messages/to-prac.md"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(pg, `<td class="op">read_receipt</td>`) {
		t.Fatalf("mark read: %d\n%s", resp.StatusCode, pg)
	}
	if _, inbox = r.get(t, r.base+"/inbox"); !strings.Contains(inbox, `<tr class="read">`) || strings.Contains(inbox, `<tr class="unread">`) {
		t.Fatalf("inbox after read:\n%s", inbox)
	}
	if _, seats := r.get(t, r.base+"/seats"); strings.Contains(seats, "<strong>") || !strings.Contains(seats, `<td class="unread">0</td>`) {
		t.Fatalf("seats after read:\n%s", seats)
	}
}

// TestCockpit_AirlockRevert: a staged proposal shows on the airlock page with its clocks, the
// event stream carries the stage, and Revert returns it to open with the airlock_revert row.
func TestCockpit_AirlockRevert(t *testing.T) {
	r := newCockpitRig(t)
	reconcile(t, r.s, "Recto")
	r.proposeReady(t, "p-air", "air", "through the airlock", "3c")
	if code, _, stderr := admin(t, "--data", r.data, "totp-provision"); code != 0 {
		t.Fatal(stderr)
	}
	_, empty := r.get(t, r.base+"/airlock")
	if !strings.Contains(empty, "Nothing is staged") {
		t.Fatalf("empty airlock:\n%s", empty)
	}

	req := mustRequest(t, http.MethodGet, r.base+"/events", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := r.hc.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type %q", ct)
	}
	lines := make(chan string, 16)
	go func() {
		b := make([]byte, 4096)
		var acc string
		for {
			k, err := resp.Body.Read(b)
			acc += string(b[:k])
			for {
				i := strings.Index(acc, "\n")
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+1:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	waitLine(t, lines, ": cockpit events")

	mustCall(t, r.s, "stage_approve", map[string]any{"proposal_id": "p-air", "code": totpNow(t, r.n.cfg.AirlockSecret)})
	waitLine(t, lines, "event: airlock.staged")
	_, pg := r.get(t, r.base+"/airlock")
	if !strings.Contains(pg, `<tr data-proposal="p-air">`) || !strings.Contains(pg, `class="clock lands" data-until="`) {
		t.Fatalf("airlock page:\n%s", pg)
	}
	if _, list := r.get(t, r.base+"/proposals?status=staged"); !strings.Contains(list, `data-proposal="p-air"`) {
		t.Fatalf("staged filter:\n%s", list)
	}
	resp2, pg := r.post(t, "/airlock", "/airlock/p-air/revert", url.Values{})
	if resp2.StatusCode != http.StatusOK || !strings.Contains(pg, "Reverted p-air") || !strings.Contains(pg, `<td class="op">airlock_revert</td>`) {
		t.Fatalf("revert: %d\n%s", resp2.StatusCode, pg)
	}
	waitLine(t, lines, "event: airlock.reverted")
	if _, list := r.get(t, r.base+"/proposals?status=open"); !strings.Contains(list, `data-proposal="p-air"`) {
		t.Fatalf("after revert the proposal is not open:\n%s", list)
	}
}

// waitLine reads lines until want arrives, failing when the stream ends or stays silent.
func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the event stream ended before %q", want)
			}
			if l == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on the event stream", want)
		}
	}
}
