package door

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// docServer serves client metadata documents over TLS: each path answers what docs maps it to,
// with the document's own URL substituted for CLIENT_ID.
func docServer(t *testing.T, docs map[string]func(w http.ResponseWriter, self string)) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h(w, srv.URL+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// jsonDoc answers body as application/json with CLIENT_ID replaced by the document's URL.
func jsonDoc(body string) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, self string) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.ReplaceAll(body, "CLIENT_ID", self))
	}
}

const goodDoc = `{"client_id":"CLIENT_ID","client_name":"Remote Agent","redirect_uris":["` + testRedirect + `"],
	"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`

// TestDoor_ClientIDMetadataDocument: an https client_id is accepted by reading its metadata
// document (the MCP authorization spec's preferred registration, beside I-62's dynamic one),
// and every rule of the draft refuses before a transaction exists.
func TestDoor_ClientIDMetadataDocument(t *testing.T) {
	docs := docServer(t, map[string]func(http.ResponseWriter, string){
		"/good.json":         jsonDoc(goodDoc),
		"/other-id.json":     jsonDoc(strings.Replace(goodDoc, `"CLIENT_ID"`, `"https://elsewhere.example/good.json"`, 1)),
		"/no-redirect.json":  jsonDoc(`{"client_id":"CLIENT_ID","client_name":"x","redirect_uris":[]}`),
		"/secret.json":       jsonDoc(strings.Replace(goodDoc, `"client_name"`, `"client_secret":"s3cret","client_name"`, 1)),
		"/basic.json":        jsonDoc(strings.Replace(goodDoc, `"none"`, `"client_secret_basic"`, 1)),
		"/bad-redirect.json": jsonDoc(`{"client_id":"CLIENT_ID","redirect_uris":["http://evil.example/cb"]}`),
		"/huge.json":         jsonDoc(`{"client_id":"CLIENT_ID","redirect_uris":["` + testRedirect + `"],"pad":"` + strings.Repeat("x", metadataDocMax) + `"}`),
		"/html.json": func(w http.ResponseWriter, self string) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, strings.ReplaceAll(goodDoc, "CLIENT_ID", self))
		},
		"/moved.json": func(w http.ResponseWriter, self string) {
			w.Header().Set("Location", strings.Replace(self, "/moved.json", "/good.json", 1))
			w.WriteHeader(http.StatusFound)
		},
	})
	d, srv := testDoor(t, stores["sqlite"](t), Config{MetadataClient: docs.Client()})
	authorize := func(clientID, redirect string) (*http.Response, string) {
		v := url.Values{"client_id": {clientID}, "response_type": {"code"}, "state": {"s"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier("v")}, "code_challenge_method": {"S256"}}
		if redirect != "" {
			v.Set("redirect_uri", redirect)
		}
		resp, err := noFollow.Get(srv.URL + "/authorize?" + v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	tests := []struct {
		name     string
		clientID string
		redirect string
		want     string // "" accepts
	}{
		{"accepted", docs.URL + "/good.json", testRedirect, ""},
		{"accepted with its one redirect implied", docs.URL + "/good.json", "", ""},
		{"redirect not in the document", docs.URL + "/good.json", "http://127.0.0.1:9/other", "redirect_uri is not registered"},
		{"client_id differs from the URL", docs.URL + "/other-id.json", testRedirect, "must equal the document's URL"},
		{"no redirect_uris", docs.URL + "/no-redirect.json", testRedirect, "no redirect_uris"},
		{"a client secret", docs.URL + "/secret.json", testRedirect, "client secret"},
		{"a shared-secret auth method", docs.URL + "/basic.json", testRedirect, `"client_secret_basic"`},
		{"a forbidden redirect", docs.URL + "/bad-redirect.json", "http://evil.example/cb", "only to loopback"},
		{"over the size cap", docs.URL + "/huge.json", testRedirect, "larger than 5120 bytes"},
		{"not JSON", docs.URL + "/html.json", testRedirect, `content type "text/html"`},
		{"a redirect is not followed", docs.URL + "/moved.json", testRedirect, "answered 302"},
		{"no document", docs.URL + "/missing.json", testRedirect, "answered 404"},
		{"no path", docs.URL, testRedirect, "has no path"},
		{"a dot segment", docs.URL + "/a/../good.json", testRedirect, "dot segment"},
		{"plain http is no metadata URL", strings.Replace(docs.URL, "https:", "http:", 1) + "/good.json", testRedirect, "unknown client_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := authorize(tt.clientID, tt.redirect)
			loc := resp.Header.Get("Location")
			if tt.want == "" {
				if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/approve?txn=") {
					t.Fatalf("authorize: %d %q %s", resp.StatusCode, loc, body)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.want) || loc != "" {
				t.Fatalf("authorize: %d %q %q, want 400 naming %q", resp.StatusCode, loc, body, tt.want)
			}
		})
	}

	// The approve page names the client by the document's name and its URL (I-64).
	id := docs.URL + "/good.json"
	resp, _ := authorize(id, testRedirect)
	resp, err := http.Get(srv.URL + resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Remote Agent ("+id+")") {
		t.Fatalf("approve page: %d %s", resp.StatusCode, page)
	}

	// The grant and the token exchange: a public client named by its URL, no secret.
	c, err := d.store.Client(t.Context(), id)
	if err != nil || c == nil || c.AuthMethod != "none" {
		t.Fatalf("stored metadata client: %+v %v", c, err)
	}
	verifier := oauth2.GenerateVerifier()
	tx := Txn{ID: random(16), ClientID: id, Created: d.now(), Params: Params{Scopes: []string{},
		CodeChallenge: oauth2.S256ChallengeFromVerifier(verifier), RedirectURI: testRedirect, RedirectExplicit: true}}
	if err := d.store.PutTxn(t.Context(), tx, d.now().Add(-TxnTTL)); err != nil {
		t.Fatal(err)
	}
	redirect, _, err := d.grant(t.Context(), d.store, &tx)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(redirect)
	resp, err = http.PostForm(srv.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {id},
		"code": {u.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {testRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	var tok tokenReply
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("token for a metadata client: %d %+v", resp.StatusCode, tok)
	}

	// Discovery says so.
	resp, err = http.Get(srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["client_id_metadata_document_supported"] != true {
		t.Fatalf("metadata: %v", meta)
	}
}

// TestDoor_MetadataFetchIsPublicOnly: the production fetcher refuses to connect to the
// loopback document server (SSRF), and a server that never answers is cut off by the deadline.
func TestDoor_MetadataFetchIsPublicOnly(t *testing.T) {
	stall := make(chan struct{}) // holds the stalled document's handler until the test ends
	docs := docServer(t, map[string]func(http.ResponseWriter, string){
		"/good.json": jsonDoc(goodDoc),
		"/stall.json": func(w http.ResponseWriter, _ string) {
			w.Header().Set("Content-Type", "application/json")
			w.(http.Flusher).Flush() // headers out, then no body until the client gives up
			<-stall
		},
	})
	t.Cleanup(func() { close(stall) })
	tests := []struct {
		name string
		cfg  Config
		path string
		want string
	}{
		{"loopback refused", Config{}, "/good.json", "not a public address"},
		{"a stalled body cut off", Config{MetadataClient: &http.Client{Transport: docs.Client().Transport, Timeout: 200 * time.Millisecond}},
			"/stall.json", "Client.Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := testDoor(t, stores["sqlite"](t), tt.cfg)
			v := url.Values{"client_id": {docs.URL + tt.path}, "response_type": {"code"}, "redirect_uri": {testRedirect},
				"code_challenge": {"x"}, "code_challenge_method": {"S256"}}
			resp, err := noFollow.Get(srv.URL + "/authorize?" + v.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %s, want 400 naming %q", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// TestPublicAddr is the SSRF guard's address table.
func TestPublicAddr(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"8.8.8.8", true},
		{"2606:4700::1111", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"100.101.102.103", false}, // tailnet
		{"169.254.169.254", false}, // cloud metadata
		{"0.0.0.0", false},
		{"fd12::1", false},
		{"fe80::1", false},
		{"224.0.0.1", false},
		{"64:ff9b::7f00:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := publicAddr(netip.MustParseAddr(tt.give)); got != tt.want {
				t.Fatalf("publicAddr(%s) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}
